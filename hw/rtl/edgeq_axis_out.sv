// Top-level AXI-Stream output: pads the beat to whole bytes (sign-extending signed elements)
// and raises tlast on the last beat of every sample.
module edgeq_axis_out #(
    parameter int ELEMS = 1,
    parameter int BITS = 8,
    parameter int SIGNED = 1,
    parameter int TDATA_BITS = 8,
    parameter int BEATS = 1  // beats per sample
) (
    input  logic                  ap_clk,
    input  logic                  ap_rst_n,
    input  logic [ELEMS*BITS-1:0] s_tdata,
    input  logic                  s_tvalid,
    output logic                  s_tready,
    output logic [TDATA_BITS-1:0] m_axis_tdata,
    output logic                  m_axis_tvalid,
    input  logic                  m_axis_tready,
    output logic                  m_axis_tlast
);
  localparam int W = ELEMS * BITS;
  if (TDATA_BITS < W || TDATA_BITS % 8 != 0 || BEATS < 1) begin : g_check
    $error("edgeq_axis_out: TDATA_BITS=%0d must be a byte multiple >= %0d; BEATS=%0d >= 1",
           TDATA_BITS, W, BEATS);
  end

  if (TDATA_BITS == W) begin : g_exact
    assign m_axis_tdata = s_tdata;
  end else if (SIGNED != 0) begin : g_sign_extend
    assign m_axis_tdata = {{(TDATA_BITS - W) {s_tdata[W-1]}}, s_tdata};
  end else begin : g_zero_extend
    assign m_axis_tdata = {{(TDATA_BITS - W) {1'b0}}, s_tdata};
  end
  assign m_axis_tvalid = s_tvalid;
  assign s_tready = m_axis_tready;

  if (BEATS == 1) begin : g_single
    assign m_axis_tlast = 1'b1;
    wire unused = &{1'b0, ap_clk, ap_rst_n};
  end else begin : g_count
    localparam int CW = $clog2(BEATS);
    logic [CW-1:0] beat_q;
    assign m_axis_tlast = beat_q == CW'(BEATS - 1);
    always_ff @(posedge ap_clk) begin
      if (!ap_rst_n) beat_q <= '0;
      else if (m_axis_tvalid && m_axis_tready) beat_q <= m_axis_tlast ? '0 : beat_q + 1'b1;
    end
  end
endmodule
