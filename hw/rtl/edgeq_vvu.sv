// Vector-vector unit: per-channel reductions over a window, for depthwise convolution
// (MODE 0: weighted sum + bias), max pooling (MODE 1) and average pooling (MODE 2: sum).
// Input beats come from edgeq_swg in ORDER 1: SIMD kernel positions x PE channels, element
// s*PE + p; per output pixel C/PE channel groups, each K/SIMD beats. Output beats carry PE
// channels, C/PE beats per pixel. Sums are requantized like edgeq_mvu (per-channel M' from
// MUL_FILE, one SHIFT); a maximum is passed on unchanged.
//   WEIGHT_FILE (MODE 0): (C/PE)*(K/SIMD) words of PE*SIMD*W_BITS bits, word cg*(K/SIMD)+kf,
//                         lane (p, s) at bit (p*SIMD + s)*W_BITS: weight[cg*PE+p][kf*SIMD+s]
//   BIAS_FILE (MODE 0), MUL_FILE (MODES 0, 2): C/PE words of PE*ACC_BITS / PE*MUL_BITS bits
module edgeq_vvu #(
    parameter int MODE = 0,
    parameter int C = 4,
    parameter int K = 9,
    parameter int PE = 4,
    parameter int SIMD = 9,
    parameter int IN_BITS = 8,
    parameter int IN_SIGNED = 1,
    parameter int IN_MF = 0,
    parameter int IN_E = 4,
    parameter int IN_M = 3,
    parameter int W_BITS = 8,
    parameter int W_SIGNED = 1,
    parameter int W_MF = 0,
    parameter int W_E = 4,
    parameter int W_M = 3,
    parameter int ACC_BITS = 20,
    parameter int MUL_BITS = 16,
    parameter int SHIFT = 16,
    parameter int ROUNDING = 2,
    parameter int OVERFLOW = 1,
    parameter int RELU = 0,
    parameter int OUT_BITS = 8,
    parameter int OUT_SIGNED = 1,
    parameter int OUT_MF = 0,
    parameter int OUT_E = 4,
    parameter int OUT_M = 3,
    parameter int OUT_SPECIAL = 0,
    parameter WEIGHT_FILE = "weights.mem",
    parameter BIAS_FILE = "bias.mem",
    parameter MUL_FILE = "mul.mem"
) (
    input  logic                        ap_clk,
    input  logic                        ap_rst_n,
    input  logic [SIMD*PE*IN_BITS-1:0]  s_tdata,
    input  logic                        s_tvalid,
    output logic                        s_tready,
    output logic [PE*OUT_BITS-1:0]      m_tdata,
    output logic                        m_tvalid,
    input  logic                        m_tready
);
  localparam int CF = C / PE;  // channel groups
  localparam int KF = K / SIMD;  // kernel folds
  localparam int XW = IN_MF != 0 ? IN_M + (1 << IN_E) : IN_BITS + 1 - IN_SIGNED;
  localparam int WW = W_MF != 0 ? W_M + (1 << W_E) : W_BITS + 1 - W_SIGNED;
  // a maximum needs the operand's width only; sums use the IR's accumulator width
  localparam int AB = MODE == 1 ? XW : ACC_BITS;
  localparam int PW = AB + MUL_BITS + 1;
  localparam int CFW = CF > 1 ? $clog2(CF) : 1;
  localparam int KFW = KF > 1 ? $clog2(KF) : 1;
  localparam int AW = CF * KF > 1 ? $clog2(CF * KF) : 1;

  if (C % PE != 0 || K % SIMD != 0 || MODE < 0 || MODE > 2) begin : g_check
    $error("edgeq_vvu: needs C %% PE == 0 and K %% SIMD == 0, got C=%0d PE=%0d K=%0d SIMD=%0d MODE=%0d",
           C, PE, K, SIMD, MODE);
  end

  logic [PE*SIMD*W_BITS-1:0] weight_rom[CF*KF];
  logic [PE*ACC_BITS-1:0] bias_rom[CF];
  logic [PE*MUL_BITS-1:0] mul_rom[CF];
  if (MODE == 0) begin : g_weights
    initial $readmemh(WEIGHT_FILE, weight_rom);
    initial $readmemh(BIAS_FILE, bias_rom);
  end else begin : g_no_weights
    initial for (int i = 0; i < CF * KF; i++) weight_rom[i] = '0;
    initial for (int i = 0; i < CF; i++) bias_rom[i] = '0;
  end
  if (MODE != 1) begin : g_mul
    initial $readmemh(MUL_FILE, mul_rom);
  end else begin : g_no_mul
    initial for (int i = 0; i < CF; i++) mul_rom[i] = '0;
  end

  // ---------------------------------------------------------------- issue: each beat once
  logic en, issue;
  logic [CFW-1:0] cf_q;
  logic [KFW-1:0] kf_q;
  logic [AW-1:0] addr_q;
  assign issue = en && s_tvalid;
  assign s_tready = en;
  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      cf_q <= '0;
      kf_q <= '0;
      addr_q <= '0;
    end else if (issue) begin
      kf_q <= kf_q == KFW'(KF - 1) ? '0 : kf_q + 1'b1;
      if (kf_q == KFW'(KF - 1)) cf_q <= cf_q == CFW'(CF - 1) ? '0 : cf_q + 1'b1;
      addr_q <= addr_q == AW'(CF * KF - 1) ? '0 : addr_q + 1'b1;
    end
  end

  // ---------------------------------------------------------------- operands (stage 1)
  logic v1, first1, last1;
  logic [CFW-1:0] cf1;
  logic [SIMD*PE*IN_BITS-1:0] x1;
  logic [PE*SIMD*W_BITS-1:0] w1;
  always_ff @(posedge ap_clk) begin
    if (en) begin
      x1 <= s_tdata;
      w1 <= weight_rom[addr_q];
      first1 <= kf_q == '0;
      last1 <= kf_q == KFW'(KF - 1);
      cf1 <= cf_q;
    end
    if (!ap_rst_n) v1 <= 1'b0;
    else if (en) v1 <= issue;
  end

  logic signed [XW-1:0] xs[PE][SIMD];
  logic signed [WW-1:0] ws[PE][SIMD];
  for (genvar p = 0; p < PE; p++) begin : g_p
    for (genvar s = 0; s < SIMD; s++) begin : g_s
      if (IN_MF != 0) begin : g_mf
        edgeq_mf_decode #(.E(IN_E), .M(IN_M), .SIGNED(IN_SIGNED), .OUT_BITS(XW)) u_dec (
            .code(x1[(s*PE+p)*IN_BITS+:IN_BITS]), .value(xs[p][s]));
      end else if (IN_SIGNED != 0) begin : g_int
        assign xs[p][s] = signed'(x1[(s*PE+p)*IN_BITS+:IN_BITS]);
      end else begin : g_uint
        assign xs[p][s] = signed'({1'b0, x1[(s*PE+p)*IN_BITS+:IN_BITS]});
      end
      if (W_MF != 0) begin : g_wmf
        edgeq_mf_decode #(.E(W_E), .M(W_M), .SIGNED(W_SIGNED), .OUT_BITS(WW)) u_dec (
            .code(w1[(p*SIMD+s)*W_BITS+:W_BITS]), .value(ws[p][s]));
      end else if (W_SIGNED != 0) begin : g_wint
        assign ws[p][s] = signed'(w1[(p*SIMD+s)*W_BITS+:W_BITS]);
      end else begin : g_wuint
        assign ws[p][s] = signed'({1'b0, w1[(p*SIMD+s)*W_BITS+:W_BITS]});
      end
    end
  end

  // ---------------------------------------------------------------- reduce (stage 2)
  logic v2, first2, last2;
  logic [CFW-1:0] cf2;
  logic signed [AB-1:0] red2[PE];
  always_ff @(posedge ap_clk) begin
    if (en) begin
      for (int p = 0; p < PE; p++) begin
        logic signed [AB-1:0] r;
        r = MODE == 1 ? AB'(xs[p][0]) : '0;
        for (int s = 0; s < SIMD; s++) begin
          if (MODE == 0) r = r + AB'(xs[p][s] * ws[p][s]);
          else if (MODE == 2) r = r + AB'(xs[p][s]);
          else if (AB'(xs[p][s]) > r) r = AB'(xs[p][s]);
        end
        red2[p] <= r;
      end
      first2 <= first1;
      last2 <= last1;
      cf2 <= cf1;
    end
    if (!ap_rst_n) v2 <= 1'b0;
    else if (en) v2 <= v1;
  end

  // ---------------------------------------------------------------- accumulate (stage 3)
  logic v3;
  logic [CFW-1:0] cf3;
  logic signed [AB-1:0] acc3[PE];
  logic [PE*ACC_BITS-1:0] bias2;
  assign bias2 = bias_rom[cf2];
  always_ff @(posedge ap_clk) begin
    if (en && v2) begin
      for (int p = 0; p < PE; p++) begin
        if (MODE == 1) acc3[p] <= (first2 || red2[p] > acc3[p]) ? red2[p] : acc3[p];
        else acc3[p] <= (first2 ? AB'(signed'(bias2[p*ACC_BITS+:ACC_BITS])) : acc3[p]) + red2[p];
      end
      cf3 <= cf2;
    end
    if (!ap_rst_n) v3 <= 1'b0;
    else if (en) v3 <= v2 && last2;
  end

  // ---------------------------------------------------------------- multiply (stage 4)
  logic v4;
  logic signed [PW-1:0] prod4[PE];
  logic [PE*MUL_BITS-1:0] mul3;
  assign mul3 = mul_rom[cf3];
  always_ff @(posedge ap_clk) begin
    if (en) begin
      for (int p = 0; p < PE; p++) begin
        if (MODE == 1) prod4[p] <= PW'(acc3[p]);
        else prod4[p] <= PW'(acc3[p]) * PW'(signed'({1'b0, mul3[p*MUL_BITS+:MUL_BITS]}));
      end
    end
    if (!ap_rst_n) v4 <= 1'b0;
    else if (en) v4 <= v3;
  end

  // ---------------------------------------------------------------- round, clamp (stage 5)
  logic v5;
  logic [PE*OUT_BITS-1:0] y4, y5;
  for (genvar p = 0; p < PE; p++) begin : g_requant
    if (MODE == 1 && OUT_MF == 0) begin : g_max
      assign y4[p*OUT_BITS+:OUT_BITS] = OUT_BITS'(prod4[p]);
    end else begin : g_quantize  // a minifloat maximum: encoded, SHIFT 0
      edgeq_quantize #(
          .IN_BITS(PW), .SHIFT(MODE == 1 ? 0 : SHIFT), .ROUNDING(ROUNDING), .OVERFLOW(OVERFLOW),
          .RELU(RELU), .OUT_BITS(OUT_BITS), .OUT_SIGNED(OUT_SIGNED), .OUT_MF(OUT_MF),
          .OUT_E(OUT_E), .OUT_M(OUT_M), .OUT_SPECIAL(OUT_SPECIAL)
      ) u_q (.value(prod4[p]), .result(y4[p*OUT_BITS+:OUT_BITS]));
    end
  end
  always_ff @(posedge ap_clk) begin
    if (en) y5 <= y4;
    if (!ap_rst_n) v5 <= 1'b0;
    else if (en) v5 <= v4;
  end

  logic out_ready;
  assign en = !v5 || out_ready;
  edgeq_skid #(.WIDTH(PE * OUT_BITS)) u_out (
      .ap_clk, .ap_rst_n, .s_tdata(y5), .s_tvalid(v5), .s_tready(out_ready),
      .m_tdata, .m_tvalid, .m_tready);
endmodule
