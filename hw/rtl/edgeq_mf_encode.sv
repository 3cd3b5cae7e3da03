// Rounds value / 2**SHIFT onto a minifloat grid and encodes it, as
// edgeq.numerics.minifloat.round_to_grid + encode: leading-one detect, mantissa rounded half
// to even, saturation at the largest finite value, subnormals kept. Negative results give
// +0 when the format is unsigned or RELU is set. SPECIAL: 0 none, 1 fn (OCP e4m3), 2 ieee.
module edgeq_mf_encode #(
    parameter int IN_BITS = 40,
    parameter int SHIFT = 0,
    parameter int E = 4,
    parameter int M = 3,
    parameter int SIGNED = 1,
    parameter int SPECIAL = 0,
    parameter int RELU = 0
) (
    input  logic signed [    IN_BITS-1:0] value,
    output logic        [SIGNED+E+M-1:0] code
);
  localparam int EMAX = (1 << E) - 1 - (SPECIAL == 2 ? 1 : 0);
  localparam int MMAX = (1 << M) - 1 - (SPECIAL == 1 ? 1 : 0);
  localparam int SW = $clog2(IN_BITS + SHIFT + 2) + 1;  // holds every shift amount
  localparam int MW = IN_BITS + 1;  // magnitude
  localparam int RW = M + 2;  // rounded significand and its carry
  localparam int FW = M + 1;  // significand
  if (E < 1 || M < 1 || SHIFT < 0 || SPECIAL < 0 || SPECIAL > 2) begin : g_check
    $error("edgeq_mf_encode: bad parameters E=%0d M=%0d SHIFT=%0d SPECIAL=%0d", E, M, SHIFT,
           SPECIAL);
  end

  logic negative;
  logic [IN_BITS:0] magnitude, rest, half;
  /* verilator lint_off UNUSEDSIGNAL */  // only the low M+2 bits of the quotient can be set
  logic [IN_BITS:0] quotient;
  /* verilator lint_on UNUSEDSIGNAL */
  logic [SW-1:0] lead, shift;
  logic [M+1:0] rounded;
  logic up, any;
  logic [SW-1:0] exponent;
  logic [M:0] mantissa;
  logic sign;

  always_comb begin
    negative = value < 0;
    magnitude = negative ? MW'(-(MW'(value))) : MW'(value);
    lead = '0;
    any = 1'b0;
    for (int i = 0; i <= IN_BITS; i++) begin
      if (magnitude[i]) begin
        lead = SW'(i);
        any = 1'b1;
      end
    end
    // grid units per mantissa step: shift = max(lead - M, SHIFT)
    shift = (any && int'(lead) - M > SHIFT) ? lead - SW'(M) : SW'(SHIFT);
    quotient = magnitude >> shift;
    rest = magnitude & ((MW'(1) << shift) - 1'b1);
    half = shift == '0 ? '0 : MW'(1) << (shift - 1'b1);
    up = shift != '0 && (rest > half || (rest == half && quotient[0]));
    rounded = RW'(quotient) + RW'(up);
    exponent = shift - SW'(SHIFT);
    if (rounded[M+1]) begin  // rounding carried into the next binade
      rounded = rounded >> 1;
      exponent = exponent + 1'b1;
    end
    if (rounded[M]) begin
      exponent = exponent + 1'b1;
      mantissa = rounded[M:0] ^ {1'b1, {M{1'b0}}};
    end else begin
      exponent = '0;
      mantissa = rounded[M:0];
    end
    if (int'(exponent) > EMAX || (int'(exponent) == EMAX && int'(mantissa) > MMAX)) begin
      exponent = SW'(EMAX);
      mantissa = FW'(MMAX);
    end
    sign = negative && rounded != '0;
    if (negative && (SIGNED == 0 || RELU != 0)) begin
      sign = 1'b0;
      exponent = '0;
      mantissa = '0;
    end
  end

  if (SIGNED != 0) begin : g_signed
    assign code = {sign, exponent[E-1:0], mantissa[M-1:0]};
  end else begin : g_unsigned
    assign code = {exponent[E-1:0], mantissa[M-1:0]};
    wire unused = &{1'b0, sign};
  end
endmodule
