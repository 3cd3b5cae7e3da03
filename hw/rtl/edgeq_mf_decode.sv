// Minifloat code to its exact grid integer (units of the smallest subnormal step):
// exponent field 0 gives the mantissa itself, field e gives (2**M + mantissa) << (e - 1).
module edgeq_mf_decode #(
    parameter int E = 4,
    parameter int M = 3,
    parameter int SIGNED = 1,
    parameter int OUT_BITS = M + (1 << E)  // magnitude bits (M + 2**E - 1) and a sign bit
) (
    input  logic        [SIGNED+E+M-1:0] code,
    output logic signed [  OUT_BITS-1:0] value
);
  if (E < 1 || M < 1 || OUT_BITS < M + (1 << E)) begin : g_check
    $error("edgeq_mf_decode: E=%0d M=%0d needs OUT_BITS >= %0d, got %0d", E, M, M + (1 << E),
           OUT_BITS);
  end

  logic [E-1:0] exponent;
  logic [M:0] significand;
  logic [OUT_BITS-1:0] magnitude;
  assign exponent = code[E+M-1-:E];
  if (M > 0) begin : g_mantissa
    assign significand = {exponent != '0, code[M-1:0]};
  end else begin : g_no_mantissa
    assign significand = exponent != '0;
  end
  assign magnitude = exponent == '0 ? OUT_BITS'(significand)
                                    : OUT_BITS'(significand) << (exponent - 1'b1);
  if (SIGNED != 0) begin : g_signed
    assign value = code[E+M] ? -signed'(magnitude) : signed'(magnitude);
  end else begin : g_unsigned
    assign value = signed'(magnitude);
  end
endmodule
