// Reset for a UART board design: held for 16 cycles after configuration (flops start at
// zero), and again for as long as the host holds a break on the RX line (low for more than
// two frames, 20 bit times; no byte is that long). A break re-aligns a host that lost track
// of where samples start: the design restarts empty when the line goes high again.
module edgeq_uart_reset #(
    parameter int CLKS_PER_BIT = 104
) (
    input  logic clk,
    input  logic rx,
    output logic rst_n
);
  localparam int BREAK_CLKS = 20 * CLKS_PER_BIT;
  localparam int BW = $clog2(BREAK_CLKS + 1);

  // verilator lint_off PROCASSINIT
  logic [4:0] por_q = '0;  // the configuration's initial values are the point here
  logic [1:0] sync_q = '0;
  logic [BW-1:0] low_q = '0;
  // verilator lint_on PROCASSINIT
  logic in_break;

  assign in_break = low_q == BW'(BREAK_CLKS);
  assign rst_n = por_q[4] && !in_break;

  always_ff @(posedge clk) begin
    sync_q <= {sync_q[0], rx};
    if (sync_q[1]) low_q <= '0;
    else if (!in_break) low_q <= low_q + 1'b1;
    if (!por_q[4]) por_q <= por_q + 1'b1;
  end
endmodule
