// Requantization of one lane, combinational: y = overflow(round(value / 2**SHIFT)), then ReLU.
// `value` is the accumulator already multiplied by the channel's integer multiplier; the
// generator folds per-channel shifts into the multipliers so SHIFT is one constant per layer.
// Rounding and overflow codes mirror edgeq.numerics (round_shift, overflow) exactly:
//   ROUNDING 0 FLOOR, 1 TOWARD_ZERO, 2 HALF_UP, 3 HALF_TOWARD_ZERO, 4 HALF_DOWN,
//            5 HALF_AWAY, 6 HALF_EVEN
//   OVERFLOW 0 WRAP, 1 SAT, 2 SAT_ZERO, 3 SAT_SYM
module edgeq_requant #(
    parameter int IN_BITS = 32,
    parameter int SHIFT = 0,
    parameter int ROUNDING = 2,
    parameter int OVERFLOW = 1,
    parameter int RELU = 0,
    parameter int OUT_BITS = 8,
    parameter int OUT_SIGNED = 1
) (
    input  logic signed [IN_BITS-1:0] value,
    output logic        [OUT_BITS-1:0] result
);
  if (SHIFT < 0 || ROUNDING < 0 || ROUNDING > 6 || OVERFLOW < 0 || OVERFLOW > 3)
  begin : g_check
    $error("edgeq_requant: SHIFT=%0d must be >= 0, ROUNDING=%0d in 0..6, OVERFLOW=%0d in 0..3",
           SHIFT, ROUNDING, OVERFLOW);
  end

  // VW holds value and its rounding bits; QW holds the rounded quotient and the output range
  localparam int VW = IN_BITS > SHIFT + 1 ? IN_BITS : SHIFT + 1;
  localparam int QW0 = VW - SHIFT + 1;
  localparam int QW = QW0 > OUT_BITS + 2 ? QW0 : OUT_BITS + 2;
  localparam int FLW = VW - SHIFT;  // the quotient
  localparam logic signed [QW-1:0] HI = OUT_SIGNED != 0 ? (QW'(1) <<< (OUT_BITS - 1)) - 1
                                                         : (QW'(1) <<< OUT_BITS) - 1;
  localparam logic signed [QW-1:0] LO_RANGE = OUT_SIGNED != 0 ? -(QW'(1) <<< (OUT_BITS - 1))
                                                               : QW'(0);
  localparam logic signed [QW-1:0] LO = (OVERFLOW == 3 && OUT_SIGNED != 0) ? -HI : LO_RANGE;

  logic signed [VW-1:0] v;
  logic signed [QW-1:0] q, y;
  assign v = VW'(value);

  if (SHIFT == 0) begin : g_exact
    assign q = QW'(v);
  end else begin : g_round
    logic signed [VW-SHIFT-1:0] floor_v;
    logic [SHIFT-1:0] rem;
    logic above, tie, inexact, negative, up;
    assign floor_v = FLW'(v >>> SHIFT);
    assign rem = v[SHIFT-1:0];
    // constant false when SHIFT == 1 (a 1-bit remainder is never above half): correct
    /* verilator lint_off CMPCONST */
    assign above = rem > {1'b1, {(SHIFT - 1) {1'b0}}};
    /* verilator lint_on CMPCONST */
    assign tie = rem == {1'b1, {(SHIFT - 1) {1'b0}}};
    assign inexact = rem != '0;
    assign negative = v[VW-1];
    always_comb begin
      case (ROUNDING)
        0: up = 1'b0;
        1: up = negative && inexact;
        2: up = above || tie;
        3: up = above || (tie && negative);
        4: up = above;
        5: up = above || (tie && !negative);
        default: up = above || (tie && floor_v[0]);
      endcase
    end
    assign q = QW'(floor_v) + QW'({1'b0, up});
  end

  always_comb begin
    if (OVERFLOW == 0) begin  // WRAP: keep the low bits, read them back in the output type
      if (OUT_SIGNED != 0) y = QW'(signed'(q[OUT_BITS-1:0]));
      else y = QW'({1'b0, q[OUT_BITS-1:0]});
    end else if (q > HI) y = OVERFLOW == 2 ? '0 : HI;
    else if (q < LO) y = OVERFLOW == 2 ? '0 : LO;
    else y = q;
    if (RELU != 0 && y < 0) y = '0;
  end

  assign result = y[OUT_BITS-1:0];
endmodule
