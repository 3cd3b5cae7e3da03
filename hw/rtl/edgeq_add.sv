// Residual add: y = requant(a * KA + b * KB) per channel, where KA and KB are the two inputs'
// multipliers aligned to a common shift (Add.aligned_multipliers in the IR), summed exactly in
// ACC_BITS, then multiplied by M' and rounded once (MUL_FILE, SHIFT as in edgeq_mvu).
// Both inputs carry PE channels per beat (C/PE beats per position) and are joined beat by beat.
//   K_FILE: C/PE words of 2*PE*K_BITS bits: lane p of input a at bit p*K_BITS, of input b at
//           bit (PE + p)*K_BITS (unsigned)
module edgeq_add #(
    parameter int C = 4,
    parameter int PE = 4,
    parameter int A_BITS = 8,
    parameter int A_SIGNED = 1,
    parameter int B_BITS = 8,
    parameter int B_SIGNED = 1,
    parameter int K_BITS = 16,
    parameter int ACC_BITS = 26,
    parameter int MUL_BITS = 1,
    parameter int SHIFT = 15,
    parameter int ROUNDING = 2,
    parameter int OVERFLOW = 1,
    parameter int RELU = 0,
    parameter int OUT_BITS = 8,
    parameter int OUT_SIGNED = 1,
    parameter K_FILE = "k.mem",
    parameter MUL_FILE = "mul.mem"
) (
    input  logic                   ap_clk,
    input  logic                   ap_rst_n,
    input  logic [PE*A_BITS-1:0]   s0_tdata,
    input  logic                   s0_tvalid,
    output logic                   s0_tready,
    input  logic [PE*B_BITS-1:0]   s1_tdata,
    input  logic                   s1_tvalid,
    output logic                   s1_tready,
    output logic [PE*OUT_BITS-1:0] m_tdata,
    output logic                   m_tvalid,
    input  logic                   m_tready
);
  localparam int CF = C / PE;
  localparam int CFW = CF > 1 ? $clog2(CF) : 1;
  localparam int PW = ACC_BITS + MUL_BITS + 1;
  localparam int AX = A_BITS + 1;  // operands as signed integers
  localparam int BX = B_BITS + 1;

  if (C % PE != 0) begin : g_check
    $error("edgeq_add: needs C %% PE == 0, got C=%0d PE=%0d", C, PE);
  end

  logic [2*PE*K_BITS-1:0] k_rom[CF];
  logic [PE*MUL_BITS-1:0] mul_rom[CF];
  initial begin
    $readmemh(K_FILE, k_rom);
    $readmemh(MUL_FILE, mul_rom);
  end

  logic en, issue;
  logic [CFW-1:0] cf_q;
  assign issue = en && s0_tvalid && s1_tvalid;
  assign s0_tready = en && s1_tvalid;
  assign s1_tready = en && s0_tvalid;
  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) cf_q <= '0;
    else if (issue) cf_q <= cf_q == CFW'(CF - 1) ? '0 : cf_q + 1'b1;
  end

  // stage 1: operands and the channel group's multipliers
  logic v1;
  logic [PE*A_BITS-1:0] a1;
  logic [PE*B_BITS-1:0] b1;
  logic [2*PE*K_BITS-1:0] k1;
  logic [PE*MUL_BITS-1:0] m1;
  always_ff @(posedge ap_clk) begin
    if (en) begin
      a1 <= s0_tdata;
      b1 <= s1_tdata;
      k1 <= k_rom[cf_q];
      m1 <= mul_rom[cf_q];
    end
    if (!ap_rst_n) v1 <= 1'b0;
    else if (en) v1 <= issue;
  end

  // stage 2: aligned sum; stage 3: multiply; stage 4: round and clamp
  logic v2, v3, v4;
  logic signed [ACC_BITS-1:0] sum2[PE];
  logic [PE*MUL_BITS-1:0] m2;
  logic signed [PW-1:0] prod3[PE];
  logic [PE*OUT_BITS-1:0] y3, y4;
  always_ff @(posedge ap_clk) begin
    if (en) begin
      for (int p = 0; p < PE; p++) begin
        logic signed [A_BITS:0] a;
        logic signed [B_BITS:0] b;
        a = A_SIGNED != 0 ? AX'(signed'(a1[p*A_BITS+:A_BITS]))
                          : signed'({1'b0, a1[p*A_BITS+:A_BITS]});
        b = B_SIGNED != 0 ? BX'(signed'(b1[p*B_BITS+:B_BITS]))
                          : signed'({1'b0, b1[p*B_BITS+:B_BITS]});
        sum2[p] <= ACC_BITS'(a * signed'({1'b0, k1[p*K_BITS+:K_BITS]}))
                 + ACC_BITS'(b * signed'({1'b0, k1[(PE+p)*K_BITS+:K_BITS]}));
        prod3[p] <= PW'(sum2[p]) * PW'(signed'({1'b0, m2[p*MUL_BITS+:MUL_BITS]}));
      end
      m2 <= m1;
      y4 <= y3;
    end
    if (!ap_rst_n) begin
      v2 <= 1'b0;
      v3 <= 1'b0;
      v4 <= 1'b0;
    end else if (en) begin
      v2 <= v1;
      v3 <= v2;
      v4 <= v3;
    end
  end
  for (genvar p = 0; p < PE; p++) begin : g_requant
    edgeq_requant #(
        .IN_BITS(PW), .SHIFT(SHIFT), .ROUNDING(ROUNDING), .OVERFLOW(OVERFLOW), .RELU(RELU),
        .OUT_BITS(OUT_BITS), .OUT_SIGNED(OUT_SIGNED)
    ) u_rq (.value(prod3[p]), .result(y3[p*OUT_BITS+:OUT_BITS]));
  end

  logic out_ready;
  assign en = !v4 || out_ready;
  edgeq_skid #(.WIDTH(PE * OUT_BITS)) u_out (
      .ap_clk, .ap_rst_n, .s_tdata(y4), .s_tvalid(v4), .s_tready(out_ready),
      .m_tdata, .m_tvalid, .m_tready);
endmodule
