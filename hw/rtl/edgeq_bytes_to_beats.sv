// Byte stream to beat stream: BYTES bytes per beat, the first byte in the least significant
// bits (little-endian). Backpressure: no byte is taken while a full beat waits.
module edgeq_bytes_to_beats #(
    parameter int BYTES = 1
) (
    input  logic               ap_clk,
    input  logic               ap_rst_n,
    input  logic [7:0]         s_tdata,
    input  logic               s_tvalid,
    output logic               s_tready,
    output logic [8*BYTES-1:0] m_tdata,
    output logic               m_tvalid,
    input  logic               m_tready
);
  localparam int IW = BYTES > 1 ? $clog2(BYTES) : 1;

  logic [IW-1:0] index_q;

  assign s_tready = !m_tvalid;

  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      index_q <= '0;
      m_tvalid <= 1'b0;
    end else begin
      if (m_tvalid && m_tready) m_tvalid <= 1'b0;
      if (s_tvalid && s_tready) begin
        m_tdata[8*index_q+:8] <= s_tdata;
        if (index_q == IW'(BYTES - 1)) begin
          index_q <= '0;
          m_tvalid <= 1'b1;
        end else index_q <= index_q + 1'b1;
      end
    end
  end
endmodule
