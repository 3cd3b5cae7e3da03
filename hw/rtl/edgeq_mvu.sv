// Streaming matrix-vector unit: y = requant(W x + b), W is MH x MW, folded onto PE output
// lanes and SIMD input lanes. Input beats carry SIMD elements (MW/SIMD beats per vector),
// output beats carry PE elements (MH/PE beats per vector); one (PE x SIMD) block of MACs per
// cycle, MH/PE * MW/SIMD cycles per vector.
//
// Weights, biases and requantization multipliers are ROMs loaded from memory files ($readmemh):
//   WEIGHT_FILE: MH/PE*MW/SIMD words of PE*SIMD*W_BITS bits, word nf*(MW/SIMD)+sf, lane
//                (pe, s) at bit (pe*SIMD + s)*W_BITS: weight[nf*PE + pe][sf*SIMD + s]
//   BIAS_FILE:   MH/PE words of PE*ACC_BITS bits (the accumulator's initial value)
//   MUL_FILE:    MH/PE words of PE*MUL_BITS bits (unsigned multiplier M' of each channel)
// The requantization is y = round((acc * M') / 2**SHIFT) with one SHIFT for the layer (the
// generator scales each channel's multiplier by 2**(SHIFT - c) to make that exact).
//
// Arithmetic is exact: the accumulator width ACC_BITS is the IR's exact bound, so every
// partial sum fits and modular ACC_BITS-bit adds give the exact result.
//
// With CONST_DOT (fully parallel layers, MH/PE == MW/SIMD == 1) the weights are constants
// and the dot products come from a generated shift-add graph instead of the ROM and
// multipliers (see edgeq/backends/rtl/adder_graph.py).
//
// Pipeline: issue -> operands (ROM read) -> dot products -> accumulate -> multiply ->
// round/clamp -> skid. A global enable stalls the pipeline while its output is blocked.
// With MH/PE > 1 the input vector is kept in a ping-pong buffer, so the next vector streams
// in while the current one is reused for the remaining output folds.
module edgeq_mvu #(
    parameter int MW = 16,
    parameter int MH = 8,
    parameter int SIMD = 4,
    parameter int PE = 2,
    // input elements: integers of IN_BITS (IN_SIGNED), or minifloat codes (IN_MF)
    parameter int IN_BITS = 8,
    parameter int IN_SIGNED = 1,
    parameter int IN_MF = 0,
    parameter int IN_E = 4,
    parameter int IN_M = 3,
    // weights: integers of W_BITS (W_SIGNED), or minifloat codes (W_MF)
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
    // output elements: integers of OUT_BITS, or minifloat codes (OUT_MF, OUT_SPECIAL)
    parameter int OUT_BITS = 8,
    parameter int OUT_SIGNED = 1,
    parameter int OUT_MF = 0,
    parameter int OUT_E = 4,
    parameter int OUT_M = 3,
    parameter int OUT_SPECIAL = 0,
    parameter int CONST_DOT = 0,
    parameter WEIGHT_FILE = "weights.mem",
    parameter BIAS_FILE = "bias.mem",
    parameter MUL_FILE = "mul.mem"
) (
    input  logic                     ap_clk,
    input  logic                     ap_rst_n,
    input  logic [SIMD*IN_BITS-1:0]  s_tdata,
    input  logic                     s_tvalid,
    output logic                     s_tready,
    output logic [PE*OUT_BITS-1:0]   m_tdata,
    output logic                     m_tvalid,
    input  logic                     m_tready,
    // CONST_DOT: the dot products come from an external constant-weight adder graph that
    // sees the stage-1 operands on dot_x and answers combinationally on dot_y
    output logic [SIMD*IN_BITS-1:0]  dot_x,
    input  logic [PE*ACC_BITS-1:0]   dot_y
);
  localparam int NF = MH / PE;  // output folds
  localparam int SF = MW / SIMD;  // input folds
  localparam int WORDS = NF * SF;
  // operand widths after decoding, as signed integers
  localparam int XW = IN_MF != 0 ? IN_M + (1 << IN_E) : IN_BITS + 1 - IN_SIGNED;
  localparam int WW = W_MF != 0 ? W_M + (1 << W_E) : W_BITS + 1 - W_SIGNED;
  localparam int PW = ACC_BITS + MUL_BITS + 1;  // acc * M', M' unsigned
  localparam int NFW = NF > 1 ? $clog2(NF) : 1;
  localparam int SFW = SF > 1 ? $clog2(SF) : 1;
  localparam int AW = WORDS > 1 ? $clog2(WORDS) : 1;
  localparam int CNW = SFW + 1;  // beat counts 0..SF

  if (MW < 1 || MH < 1 || SIMD < 1 || PE < 1 || MW % SIMD != 0 || MH % PE != 0) begin : g_fold
    $error("edgeq_mvu: folding needs MH %% PE == 0 and MW %% SIMD == 0, got MH=%0d PE=%0d MW=%0d SIMD=%0d",
           MH, PE, MW, SIMD);
  end
  if ((IN_MF != 0 && IN_BITS != IN_SIGNED + IN_E + IN_M)
      || (W_MF != 0 && W_BITS != W_SIGNED + W_E + W_M)
      || (OUT_MF != 0 && OUT_BITS != OUT_SIGNED + OUT_E + OUT_M)) begin : g_codes
    $error("edgeq_mvu: a minifloat code is sign + E + M bits (IN_BITS=%0d W_BITS=%0d OUT_BITS=%0d)",
           IN_BITS, W_BITS, OUT_BITS);
  end
  if (CONST_DOT != 0 && (NF != 1 || SF != 1 || IN_MF != 0 || W_MF != 0)) begin : g_const
    $error("edgeq_mvu: CONST_DOT needs a fully parallel integer layer (PE=MH, SIMD=MW)");
  end
  if (ACC_BITS < 2 || MUL_BITS < 1 || SHIFT < 0) begin : g_widths
    $error("edgeq_mvu: ACC_BITS=%0d MUL_BITS=%0d SHIFT=%0d out of range", ACC_BITS, MUL_BITS,
           SHIFT);
  end

  // ---------------------------------------------------------------- ROMs
  logic [PE*ACC_BITS-1:0] bias_rom[NF];
  logic [PE*MUL_BITS-1:0] mul_rom[NF];
  initial begin
    $readmemh(BIAS_FILE, bias_rom);
    $readmemh(MUL_FILE, mul_rom);
  end

  // ---------------------------------------------------------------- issue (stage 0)
  logic en;  // the whole pipeline advances
  logic issue;  // a (nf, sf) block enters the pipeline
  logic [NFW-1:0] nf_q;
  logic [SFW-1:0] sf_q;
  logic [AW-1:0] addr_q;
  logic [SIMD*IN_BITS-1:0] x0;  // operand for this issue (from the stream or the buffer)

  if (NF == 1) begin : g_direct
    // every input beat is used once: stream it straight into the pipeline
    assign issue = en && s_tvalid;
    assign s_tready = en;
    assign x0 = s_tdata;
  end else begin : g_buffered
    // ping-pong input buffer: the writer fills one half while the reader reuses the other
    logic [SIMD*IN_BITS-1:0] xbuf[2*SF];
    logic [CNW-1:0] count_q[2];  // beats written into each half
    logic wsel_q, rsel_q;
    logic [SFW-1:0] wptr_q;
    localparam int BW = $clog2(2 * SF);
    logic write, ready_to_read, block_last;
    logic [BW-1:0] waddr, raddr;
    assign waddr = BW'(wsel_q) * BW'(SF) + BW'(wptr_q);
    assign raddr = BW'(rsel_q) * BW'(SF) + BW'(sf_q);
    assign block_last = nf_q == NFW'(NF - 1) && sf_q == SFW'(SF - 1);
    assign s_tready = count_q[wsel_q] != CNW'(SF);
    assign write = s_tvalid && s_tready;
    assign ready_to_read = count_q[rsel_q] > CNW'(sf_q);
    assign issue = en && ready_to_read;
    always_ff @(posedge ap_clk) begin
      if (write) xbuf[waddr] <= s_tdata;
      if (issue) x0 <= xbuf[raddr];  // registered read: arrives with the weights
      if (!ap_rst_n) begin
        count_q[0] <= '0;
        count_q[1] <= '0;
        wsel_q <= 1'b0;
        rsel_q <= 1'b0;
        wptr_q <= '0;
      end else begin
        for (int b = 0; b < 2; b++) begin
          if (write && wsel_q == b[0]) count_q[b] <= count_q[b] + 1'b1;
          else if (issue && block_last && rsel_q == b[0]) count_q[b] <= '0;
        end
        if (write) begin
          wptr_q <= wptr_q == SFW'(SF - 1) ? '0 : wptr_q + 1'b1;
          if (wptr_q == SFW'(SF - 1)) wsel_q <= !wsel_q;
        end
        if (issue && block_last) rsel_q <= !rsel_q;
      end
    end
  end

  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      nf_q <= '0;
      sf_q <= '0;
      addr_q <= '0;
    end else if (issue) begin
      sf_q <= sf_q == SFW'(SF - 1) ? '0 : sf_q + 1'b1;
      if (sf_q == SFW'(SF - 1)) nf_q <= nf_q == NFW'(NF - 1) ? '0 : nf_q + 1'b1;
      addr_q <= addr_q == AW'(WORDS - 1) ? '0 : addr_q + 1'b1;
    end
  end

  // ---------------------------------------------------------------- operands (stage 1)
  logic v1, first1, last1;
  logic [NFW-1:0] nf1;
  logic [SIMD*IN_BITS-1:0] x1;
  always_ff @(posedge ap_clk) begin
    if (en) begin
      first1 <= sf_q == '0;
      last1 <= sf_q == SFW'(SF - 1);
      nf1 <= nf_q;
    end
    if (!ap_rst_n) v1 <= 1'b0;
    else if (en) v1 <= issue;
  end
  if (NF == 1) begin : g_x1_direct
    always_ff @(posedge ap_clk) if (en) x1 <= x0;
  end else begin : g_x1_buffered
    assign x1 = x0;  // the buffer read is already registered
  end
  assign dot_x = x1;

  // ---------------------------------------------------------------- dot products (stage 2)
  logic v2, first2, last2;
  logic [NFW-1:0] nf2;
  logic signed [ACC_BITS-1:0] dot2[PE];
  always_ff @(posedge ap_clk) begin
    if (en) begin
      first2 <= first1;
      last2 <= last1;
      nf2 <= nf1;
    end
    if (!ap_rst_n) v2 <= 1'b0;
    else if (en) v2 <= v1;
  end

  if (CONST_DOT != 0) begin : g_const_dot
    always_ff @(posedge ap_clk) begin
      if (en) for (int p = 0; p < PE; p++) dot2[p] <= signed'(dot_y[p*ACC_BITS+:ACC_BITS]);
    end
    wire unused_addr = &{1'b0, addr_q};
  end else begin : g_rom_dot
    logic [PE*SIMD*W_BITS-1:0] weight_rom[WORDS];
    logic [PE*SIMD*W_BITS-1:0] w1;
    initial $readmemh(WEIGHT_FILE, weight_rom);
    always_ff @(posedge ap_clk) if (en) w1 <= weight_rom[addr_q];

    // decode operands to signed integers
    logic signed [XW-1:0] xs[SIMD];
    logic signed [WW-1:0] ws[PE][SIMD];
    for (genvar s = 0; s < SIMD; s++) begin : g_x
      if (IN_MF != 0) begin : g_mf
        edgeq_mf_decode #(.E(IN_E), .M(IN_M), .SIGNED(IN_SIGNED), .OUT_BITS(XW)) u_dec (
            .code(x1[s*IN_BITS+:IN_BITS]), .value(xs[s]));
      end else if (IN_SIGNED != 0) begin : g_int
        assign xs[s] = signed'(x1[s*IN_BITS+:IN_BITS]);
      end else begin : g_uint
        assign xs[s] = signed'({1'b0, x1[s*IN_BITS+:IN_BITS]});
      end
      for (genvar p = 0; p < PE; p++) begin : g_w
        if (W_MF != 0) begin : g_mf
          edgeq_mf_decode #(.E(W_E), .M(W_M), .SIGNED(W_SIGNED), .OUT_BITS(WW)) u_dec (
              .code(w1[(p*SIMD+s)*W_BITS+:W_BITS]), .value(ws[p][s]));
        end else if (W_SIGNED != 0) begin : g_int
          assign ws[p][s] = signed'(w1[(p*SIMD+s)*W_BITS+:W_BITS]);
        end else begin : g_uint
          assign ws[p][s] = signed'({1'b0, w1[(p*SIMD+s)*W_BITS+:W_BITS]});
        end
      end
    end

    always_ff @(posedge ap_clk) begin
      if (en) begin
        for (int p = 0; p < PE; p++) begin
          logic signed [ACC_BITS-1:0] sum;
          sum = '0;
          for (int s = 0; s < SIMD; s++) sum = sum + ACC_BITS'(xs[s] * ws[p][s]);
          dot2[p] <= sum;
        end
      end
    end
    wire unused_dot = &{1'b0, dot_y};
  end

  // ---------------------------------------------------------------- accumulate (stage 3)
  logic v3;
  logic [NFW-1:0] nf3;
  logic signed [ACC_BITS-1:0] acc3[PE];
  logic [PE*ACC_BITS-1:0] bias2;
  assign bias2 = bias_rom[nf2];
  always_ff @(posedge ap_clk) begin
    if (en && v2) begin
      for (int p = 0; p < PE; p++) begin
        acc3[p] <= (first2 ? signed'(bias2[p*ACC_BITS+:ACC_BITS]) : acc3[p]) + dot2[p];
      end
      nf3 <= nf2;
    end
    if (!ap_rst_n) v3 <= 1'b0;
    else if (en) v3 <= v2 && last2;
  end

  // ---------------------------------------------------------------- multiply (stage 4)
  logic v4;
  logic signed [PW-1:0] prod4[PE];
  logic [PE*MUL_BITS-1:0] mul3;
  assign mul3 = mul_rom[nf3];
  always_ff @(posedge ap_clk) begin
    if (en) begin
      for (int p = 0; p < PE; p++) begin
        prod4[p] <= PW'(acc3[p]) * PW'(signed'({1'b0, mul3[p*MUL_BITS+:MUL_BITS]}));
      end
    end
    if (!ap_rst_n) v4 <= 1'b0;
    else if (en) v4 <= v3;
  end

  // ---------------------------------------------------------------- round, clamp (stage 5)
  logic v5;
  logic [PE*OUT_BITS-1:0] y4, y5;
  for (genvar p = 0; p < PE; p++) begin : g_requant
    edgeq_quantize #(
        .IN_BITS(PW), .SHIFT(SHIFT), .ROUNDING(ROUNDING), .OVERFLOW(OVERFLOW),
        .RELU(RELU), .OUT_BITS(OUT_BITS), .OUT_SIGNED(OUT_SIGNED), .OUT_MF(OUT_MF),
        .OUT_E(OUT_E), .OUT_M(OUT_M), .OUT_SPECIAL(OUT_SPECIAL)
    ) u_q (.value(prod4[p]), .result(y4[p*OUT_BITS+:OUT_BITS]));
  end
  always_ff @(posedge ap_clk) begin
    if (en) y5 <= y4;
    if (!ap_rst_n) v5 <= 1'b0;
    else if (en) v5 <= v4;
  end

  // ---------------------------------------------------------------- output
  logic out_ready;
  assign en = !v5 || out_ready;
  edgeq_skid #(.WIDTH(PE * OUT_BITS)) u_out (
      .ap_clk, .ap_rst_n, .s_tdata(y5), .s_tvalid(v5), .s_tready(out_ready),
      .m_tdata, .m_tvalid, .m_tready);
endmodule
