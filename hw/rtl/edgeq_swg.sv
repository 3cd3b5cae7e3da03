// Sliding-window generator: turns a channels-last image (or 1-D signal, H = 1) into the
// windows of a convolution or pooling, zero padding included, as a stream of beats.
//
// Input beats carry one word of G consecutive channels of one pixel (C/G words per pixel).
// Output beats carry LANES words. Per output pixel, in raster order, the window's words are
// emitted in one of two orders:
//   ORDER 0 (matrix-vector units): (ky, kx, channel word), LANES consecutive words per beat,
//           matching weights laid out (C_out, KH, KW, C_in);
//   ORDER 1 (depthwise / pooling): channel word outer, kernel position inner, LANES kernel
//           positions of the same channel word per beat (element s*G + p is position s,
//           channel p of the word).
//
// The buffer is a circular memory of DEPTH words (a power of two holding KH + SH image rows),
// addressed by global word counters that run across samples: the writer may run ahead into
// the next sample while the reader finishes this one. A window is read once every word it
// needs has been written; the writer waits while it would overwrite a row still needed.
module edgeq_swg #(
    parameter int BITS = 8,
    parameter int H = 8,
    parameter int W = 8,
    parameter int C = 4,
    parameter int KH = 3,
    parameter int KW = 3,
    parameter int SH = 1,
    parameter int SW = 1,
    parameter int PH = 1,
    parameter int PW = 1,
    parameter int G = 4,
    parameter int LANES = 9,
    parameter int ORDER = 0
) (
    input  logic                        ap_clk,
    input  logic                        ap_rst_n,
    input  logic [G*BITS-1:0]           s_tdata,
    input  logic                        s_tvalid,
    output logic                        s_tready,
    output logic [LANES*G*BITS-1:0]     m_tdata,
    output logic                        m_tvalid,
    input  logic                        m_tready
);
  localparam int CG = C / G;  // words per pixel
  localparam int K = KH * KW;
  localparam int OH = (H + 2 * PH - KH) / SH + 1;
  localparam int OW = (W + 2 * PW - KW) / SW + 1;
  localparam int BEATS = K * CG / LANES;  // beats per output pixel
  localparam int FRAME = H * W * CG;  // words per sample
  localparam int DEPTH = 1 << $clog2((KH + SH) * W * CG);
  localparam int AW = $clog2(DEPTH) > 0 ? $clog2(DEPTH) : 1;
  localparam int GW = $clog2(2 * (FRAME + DEPTH)) + 2;  // global counters, compared signed
  localparam int JW = BEATS > 1 ? $clog2(BEATS) : 1;
  localparam int YW = $clog2(H + 2 * PH + KH + 1) + 1;  // signed pixel coordinates
  localparam int XW = $clog2(W + 2 * PW + KW + 1) + 1;
  localparam int WB = G * BITS;

  if (C % G != 0 || (K * CG) % LANES != 0 || OH < 1 || OW < 1 || PH >= KH || PW >= KW
      || (ORDER == 1 && K % LANES != 0) || ORDER < 0 || ORDER > 1) begin : g_check
    $error("edgeq_swg: bad geometry H=%0d W=%0d C=%0d K=%0dx%0d S=%0dx%0d P=%0dx%0d G=%0d LANES=%0d ORDER=%0d",
           H, W, C, KH, KW, SH, SW, PH, PW, G, LANES, ORDER);
  end

  // window word (kernel position k, channel word cw) of lane l in beat j
  function automatic int word_k(input int j, input int l);
    if (ORDER == 0) word_k = (j * LANES + l) / CG;
    else word_k = (j % (K / LANES)) * LANES + l;
  endfunction
  function automatic int word_cw(input int j, input int l);
    if (ORDER == 0) word_cw = (j * LANES + l) % CG;
    else word_cw = j / (K / LANES);
  endfunction

  // ------------------------------------------------------------------ writer
  logic [WB-1:0] mem[DEPTH];
  logic [GW-1:0] wr_q;  // global index of the next word to write
  logic [GW-1:0] base_q;  // global index of word 0 of the sample being read
  logic [GW-1:0] oldest, needed;  // reader's oldest needed word and newest needed word + 1
  logic write;
  assign s_tready = signed'(wr_q - base_q) < signed'(oldest + GW'(DEPTH));
  assign write = s_tvalid && s_tready;
  always_ff @(posedge ap_clk) begin
    if (write) mem[wr_q[AW-1:0]] <= s_tdata;
    if (!ap_rst_n) wr_q <= '0;
    else if (write) wr_q <= wr_q + 1'b1;
  end

  // ------------------------------------------------------------------ reader position
  logic signed [YW-1:0] oy_q, y0;  // output row, top window row (may be negative: padding)
  logic signed [XW-1:0] ox_q, x0;
  logic [JW-1:0] j_q;
  logic en, issue, readable, pixel_last, frame_last;
  assign y0 = YW'(oy_q * SH) - YW'(PH);
  assign x0 = XW'(ox_q * SW) - XW'(PW);

  always_comb begin
    int y_first, y_last, x_last;
    y_first = int'(y0) < 0 ? 0 : int'(y0);
    y_last = int'(y0) + KH - 1 > H - 1 ? H - 1 : int'(y0) + KH - 1;
    x_last = int'(x0) + KW - 1 > W - 1 ? W - 1 : int'(x0) + KW - 1;
    oldest = GW'(y_first * W * CG);
    needed = GW'((y_last * W + x_last + 1) * CG);
  end
  assign readable = signed'(wr_q - base_q) >= signed'(needed);
  assign issue = en && readable;
  assign pixel_last = j_q == JW'(BEATS - 1);
  assign frame_last = pixel_last && ox_q == XW'(OW - 1) && oy_q == YW'(OH - 1);

  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      oy_q <= '0;
      ox_q <= '0;
      j_q <= '0;
      base_q <= '0;
    end else if (issue) begin
      j_q <= pixel_last ? '0 : j_q + 1'b1;
      if (pixel_last) begin
        ox_q <= ox_q == XW'(OW - 1) ? '0 : ox_q + 1'b1;
        if (ox_q == XW'(OW - 1)) oy_q <= oy_q == YW'(OH - 1) ? '0 : oy_q + 1'b1;
      end
      if (frame_last) base_q <= base_q + GW'(FRAME);
    end
  end

  // ------------------------------------------------------------------ read (one stage)
  logic v1;
  logic [LANES*WB-1:0] data1;
  for (genvar l = 0; l < LANES; l++) begin : g_lane
    logic in_image;
    logic [AW-1:0] addr;
    always_comb begin
      int ky, kx, cw, iy, ix;
      ky = 0;
      kx = 0;
      cw = 0;
      for (int j = 0; j < BEATS; j++) begin  // constant per (j, l): a small mux over j
        if (j_q == JW'(j)) begin
          ky = word_k(j, l) / KW;
          kx = word_k(j, l) % KW;
          cw = word_cw(j, l);
        end
      end
      iy = int'(y0) + ky;
      ix = int'(x0) + kx;
      in_image = iy >= 0 && iy < H && ix >= 0 && ix < W;
      addr = AW'(base_q) + AW'((iy * W + ix) * CG + cw);
    end
    always_ff @(posedge ap_clk) begin
      if (issue) data1[l*WB+:WB] <= in_image ? mem[addr] : '0;
    end
  end
  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) v1 <= 1'b0;
    else if (en) v1 <= issue;
  end

  logic out_ready;
  assign en = !v1 || out_ready;
  edgeq_skid #(.WIDTH(LANES * WB)) u_out (
      .ap_clk, .ap_rst_n, .s_tdata(data1), .s_tvalid(v1), .s_tready(out_ready),
      .m_tdata, .m_tvalid, .m_tready);
endmodule
