// Stream FIFO of DEPTH entries (registers). Used where two paths of different latency meet
// (the bypass of a residual add). Ready and valid are flops; full throughput.
module edgeq_fifo #(
    parameter int WIDTH = 8,
    parameter int DEPTH = 4
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
  if (DEPTH < 2) begin : g_check
    $error("edgeq_fifo: DEPTH=%0d must be at least 2", DEPTH);
  end

  localparam int AW = $clog2(DEPTH);
  localparam int CW = AW + 1;

  logic [WIDTH-1:0] mem[DEPTH];
  logic [AW-1:0] rd_q, wr_q;
  logic [CW-1:0] count_q;
  logic push, pop;

  assign s_tready = count_q != CW'(DEPTH);
  assign m_tvalid = count_q != '0;
  assign m_tdata = mem[rd_q];
  assign push = s_tvalid && s_tready;
  assign pop = m_tvalid && m_tready;

  function automatic logic [AW-1:0] next(input logic [AW-1:0] p);
    if (p == AW'(DEPTH - 1)) next = '0;
    else next = p + 1'b1;
  endfunction

  always_ff @(posedge ap_clk) begin
    if (push) mem[wr_q] <= s_tdata;
    if (!ap_rst_n) begin
      rd_q <= '0;
      wr_q <= '0;
      count_q <= '0;
    end else begin
      if (push) wr_q <= next(wr_q);
      if (pop) rd_q <= next(rd_q);
      count_q <= count_q + CW'(push) - CW'(pop);
    end
  end
endmodule
