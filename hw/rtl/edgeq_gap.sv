// Global average pooling: sums every channel over the P spatial positions of a sample and
// requantizes the sums (1/P is folded into the multipliers, as edgeq_mvu's MUL_FILE / SHIFT).
// Input beats carry PE channels of one position (C/PE beats per position); the output beat of
// a channel group leaves as its last position arrives, so the unit never stalls its input.
module edgeq_gap #(
    parameter int C = 4,
    parameter int P = 16,
    parameter int PE = 4,
    parameter int IN_BITS = 8,
    parameter int IN_SIGNED = 1,
    parameter int IN_MF = 0,
    parameter int IN_E = 4,
    parameter int IN_M = 3,
    parameter int ACC_BITS = 20,
    parameter int MUL_BITS = 1,
    parameter int SHIFT = 4,
    parameter int ROUNDING = 6,
    parameter int OVERFLOW = 1,
    parameter int RELU = 0,
    parameter int OUT_BITS = 8,
    parameter int OUT_SIGNED = 1,
    parameter int OUT_MF = 0,
    parameter int OUT_E = 4,
    parameter int OUT_M = 3,
    parameter int OUT_SPECIAL = 0,
    parameter MUL_FILE = "mul.mem"
) (
    input  logic                   ap_clk,
    input  logic                   ap_rst_n,
    input  logic [PE*IN_BITS-1:0]  s_tdata,
    input  logic                   s_tvalid,
    output logic                   s_tready,
    output logic [PE*OUT_BITS-1:0] m_tdata,
    output logic                   m_tvalid,
    input  logic                   m_tready
);
  localparam int CF = C / PE;
  localparam int XW = IN_MF != 0 ? IN_M + (1 << IN_E) : IN_BITS + 1 - IN_SIGNED;
  localparam int PW = ACC_BITS + MUL_BITS + 1;
  localparam int CFW = CF > 1 ? $clog2(CF) : 1;
  localparam int PPW = P > 1 ? $clog2(P) : 1;

  if (C % PE != 0 || P < 1) begin : g_check
    $error("edgeq_gap: needs C %% PE == 0 and P >= 1, got C=%0d PE=%0d P=%0d", C, PE, P);
  end

  logic [PE*MUL_BITS-1:0] mul_rom[CF];
  initial $readmemh(MUL_FILE, mul_rom);

  logic en, issue;
  logic [CFW-1:0] cf_q;
  logic [PPW-1:0] pos_q;
  assign issue = en && s_tvalid;
  assign s_tready = en;
  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      cf_q <= '0;
      pos_q <= '0;
    end else if (issue) begin
      cf_q <= cf_q == CFW'(CF - 1) ? '0 : cf_q + 1'b1;
      if (cf_q == CFW'(CF - 1)) pos_q <= pos_q == PPW'(P - 1) ? '0 : pos_q + 1'b1;
    end
  end

  // stage 1: operands
  logic v1, first1, last1;
  logic [CFW-1:0] cf1;
  logic [PE*IN_BITS-1:0] x1;
  always_ff @(posedge ap_clk) begin
    if (en) begin
      x1 <= s_tdata;
      cf1 <= cf_q;
      first1 <= pos_q == '0;
      last1 <= pos_q == PPW'(P - 1);
    end
    if (!ap_rst_n) v1 <= 1'b0;
    else if (en) v1 <= issue;
  end
  logic signed [XW-1:0] xs[PE];
  for (genvar p = 0; p < PE; p++) begin : g_x
    if (IN_MF != 0) begin : g_mf
      edgeq_mf_decode #(.E(IN_E), .M(IN_M), .SIGNED(IN_SIGNED), .OUT_BITS(XW)) u_dec (
          .code(x1[p*IN_BITS+:IN_BITS]), .value(xs[p]));
    end else if (IN_SIGNED != 0) begin : g_int
      assign xs[p] = signed'(x1[p*IN_BITS+:IN_BITS]);
    end else begin : g_uint
      assign xs[p] = signed'({1'b0, x1[p*IN_BITS+:IN_BITS]});
    end
  end

  // stage 2: accumulate into the channel group's sums; the last position emits them
  logic signed [ACC_BITS-1:0] sums[CF][PE];
  logic v2;
  logic [CFW-1:0] cf2;
  logic signed [ACC_BITS-1:0] total2[PE];
  always_ff @(posedge ap_clk) begin
    if (en && v1) begin
      for (int p = 0; p < PE; p++) begin
        logic signed [ACC_BITS-1:0] t;
        t = (first1 ? '0 : sums[cf1][p]) + ACC_BITS'(xs[p]);
        sums[cf1][p] <= t;
        total2[p] <= t;
      end
      cf2 <= cf1;
    end
    if (!ap_rst_n) v2 <= 1'b0;
    else if (en) v2 <= v1 && last1;
  end

  // stage 3: multiply; stage 4: round and clamp
  logic v3, v4;
  logic signed [PW-1:0] prod3[PE];
  logic [PE*MUL_BITS-1:0] mul2;
  logic [PE*OUT_BITS-1:0] y3, y4;
  assign mul2 = mul_rom[cf2];
  always_ff @(posedge ap_clk) begin
    if (en) begin
      for (int p = 0; p < PE; p++) begin
        prod3[p] <= PW'(total2[p]) * PW'(signed'({1'b0, mul2[p*MUL_BITS+:MUL_BITS]}));
      end
      y4 <= y3;
    end
    if (!ap_rst_n) begin
      v3 <= 1'b0;
      v4 <= 1'b0;
    end else if (en) begin
      v3 <= v2;
      v4 <= v3;
    end
  end
  for (genvar p = 0; p < PE; p++) begin : g_requant
    edgeq_quantize #(
        .IN_BITS(PW), .SHIFT(SHIFT), .ROUNDING(ROUNDING), .OVERFLOW(OVERFLOW),
        .RELU(RELU), .OUT_BITS(OUT_BITS), .OUT_SIGNED(OUT_SIGNED), .OUT_MF(OUT_MF),
        .OUT_E(OUT_E), .OUT_M(OUT_M), .OUT_SPECIAL(OUT_SPECIAL)
    ) u_q (.value(prod3[p]), .result(y3[p*OUT_BITS+:OUT_BITS]));
  end

  logic out_ready;
  assign en = !v4 || out_ready;
  edgeq_skid #(.WIDTH(PE * OUT_BITS)) u_out (
      .ap_clk, .ap_rst_n, .s_tdata(y4), .s_tvalid(v4), .s_tready(out_ready),
      .m_tdata, .m_tvalid, .m_tready);
endmodule
