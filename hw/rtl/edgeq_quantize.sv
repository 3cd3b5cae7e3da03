// A layer's output quantizer for one lane, combinational: the integer requantization
// (edgeq_requant) or, for a minifloat output (OUT_MF), rounding onto the grid and encoding
// (edgeq_mf_encode). `value` is the accumulator already multiplied by the channel multiplier.
module edgeq_quantize #(
    parameter int IN_BITS = 32,
    parameter int SHIFT = 0,
    parameter int ROUNDING = 2,
    parameter int OVERFLOW = 1,
    parameter int RELU = 0,
    parameter int OUT_BITS = 8,
    parameter int OUT_SIGNED = 1,
    parameter int OUT_MF = 0,
    parameter int OUT_E = 4,
    parameter int OUT_M = 3,
    parameter int OUT_SPECIAL = 0
) (
    input  logic signed [IN_BITS-1:0] value,
    output logic        [OUT_BITS-1:0] result
);
  if (OUT_MF != 0) begin : g_mf
    edgeq_mf_encode #(
        .IN_BITS(IN_BITS), .SHIFT(SHIFT), .E(OUT_E), .M(OUT_M), .SIGNED(OUT_SIGNED),
        .SPECIAL(OUT_SPECIAL), .RELU(RELU)
    ) u_enc (.value, .code(result));
  end else begin : g_int
    edgeq_requant #(
        .IN_BITS(IN_BITS), .SHIFT(SHIFT), .ROUNDING(ROUNDING), .OVERFLOW(OVERFLOW), .RELU(RELU),
        .OUT_BITS(OUT_BITS), .OUT_SIGNED(OUT_SIGNED)
    ) u_rq (.value, .result);
  end
endmodule
