// UART shell around a streaming accelerator: serial bytes in -> input beats (m_axis_*, to the
// accelerator), output beats (s_axis_*, from the accelerator) -> serial bytes out. Beats are
// IN_BYTES / OUT_BYTES bytes, least significant byte first. Received bytes wait in a FIFO of
// FIFO_DEPTH bytes while the accelerator is busy; `overrun` (sticky) says a byte was lost
// because the host sent faster than the design drained.
module edgeq_uart_shell #(
    parameter int CLKS_PER_BIT = 104,
    parameter int IN_BYTES = 1,
    parameter int OUT_BYTES = 1,
    parameter int FIFO_DEPTH = 16
) (
    input  logic                  ap_clk,
    input  logic                  ap_rst_n,
    input  logic                  rx,
    output logic                  tx,
    output logic                  overrun,
    output logic [8*IN_BYTES-1:0] m_axis_tdata,
    output logic                  m_axis_tvalid,
    input  logic                  m_axis_tready,
    input  logic [8*OUT_BYTES-1:0] s_axis_tdata,
    input  logic                  s_axis_tvalid,
    output logic                  s_axis_tready
);
  logic [7:0] rx_data, fifo_data, tx_data;
  logic rx_valid, rx_ready, fifo_valid, fifo_ready, tx_valid, tx_ready;

  edgeq_uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_rx (
      .ap_clk, .ap_rst_n, .rx, .m_tdata(rx_data), .m_tvalid(rx_valid), .m_tready(rx_ready),
      .overrun);

  edgeq_fifo #(.WIDTH(8), .DEPTH(FIFO_DEPTH)) u_fifo (
      .ap_clk, .ap_rst_n, .s_tdata(rx_data), .s_tvalid(rx_valid), .s_tready(rx_ready),
      .m_tdata(fifo_data), .m_tvalid(fifo_valid), .m_tready(fifo_ready));

  edgeq_bytes_to_beats #(.BYTES(IN_BYTES)) u_pack (
      .ap_clk, .ap_rst_n, .s_tdata(fifo_data), .s_tvalid(fifo_valid), .s_tready(fifo_ready),
      .m_tdata(m_axis_tdata), .m_tvalid(m_axis_tvalid), .m_tready(m_axis_tready));

  edgeq_beats_to_bytes #(.BYTES(OUT_BYTES)) u_unpack (
      .ap_clk, .ap_rst_n, .s_tdata(s_axis_tdata), .s_tvalid(s_axis_tvalid),
      .s_tready(s_axis_tready), .m_tdata(tx_data), .m_tvalid(tx_valid), .m_tready(tx_ready));

  edgeq_uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) u_tx (
      .ap_clk, .ap_rst_n, .s_tdata(tx_data), .s_tvalid(tx_valid), .s_tready(tx_ready), .tx);
endmodule
