// Beat stream to byte stream: BYTES bytes per beat, least significant byte first. A beat is
// taken only when its last byte has been handed on.
module edgeq_beats_to_bytes #(
    parameter int BYTES = 1
) (
    input  logic               ap_clk,
    input  logic               ap_rst_n,
    input  logic [8*BYTES-1:0] s_tdata,
    input  logic               s_tvalid,
    output logic               s_tready,
    output logic [7:0]         m_tdata,
    output logic               m_tvalid,
    input  logic               m_tready
);
  localparam int CW = $clog2(BYTES + 1);

  logic [8*BYTES-1:0] shift_q;
  logic [CW-1:0] left_q;  // bytes of the held beat not yet handed on

  assign s_tready = left_q == '0;
  assign m_tvalid = left_q != '0;
  assign m_tdata = shift_q[7:0];

  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) left_q <= '0;
    else if (s_tvalid && s_tready) begin
      shift_q <= s_tdata;
      left_q <= CW'(BYTES);
    end else if (m_tvalid && m_tready) begin
      shift_q <= shift_q >> 8;
      left_q <= left_q - 1'b1;
    end
  end
endmodule
