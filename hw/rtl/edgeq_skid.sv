// Skid buffer: a two-entry stream register whose upstream ready is a flop, so ready paths
// never chain combinationally from one layer to the next. Full throughput, one cycle latency.
module edgeq_skid #(
    parameter int WIDTH = 8
) (
    input  logic             ap_clk,
    input  logic             ap_rst_n,
    input  logic [WIDTH-1:0] s_tdata,
    input  logic             s_tvalid,
    output logic             s_tready,
    output logic [WIDTH-1:0] m_tdata,
    output logic             m_tvalid,
    input  logic             m_tready
);
  if (WIDTH < 1) begin : g_check
    $error("edgeq_skid: WIDTH=%0d must be positive", WIDTH);
  end

  logic [WIDTH-1:0] data_q, skid_q;
  logic valid_q, skid_valid_q;

  assign s_tready = !skid_valid_q;
  assign m_tvalid = valid_q;
  assign m_tdata  = data_q;

  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      valid_q      <= 1'b0;
      skid_valid_q <= 1'b0;
    end else if (m_tready || !valid_q) begin
      // the output register is free: refill it, from the skid entry first
      if (skid_valid_q) begin
        data_q       <= skid_q;
        valid_q      <= 1'b1;
        skid_valid_q <= 1'b0;
      end else begin
        data_q  <= s_tdata;
        valid_q <= s_tvalid;
      end
    end else if (s_tvalid && !skid_valid_q) begin
      skid_q       <= s_tdata;
      skid_valid_q <= 1'b1;
    end
  end
endmodule
