// UART receiver, 8N1, LSB first. CLKS_PER_BIT clock cycles per bit (clock / baud rate).
// The line is synchronized by two flops; a start bit is confirmed at its middle and every bit
// is sampled at its middle. A received byte waits in a one-byte output register; a byte that
// arrives while the previous one is still waiting is dropped and raises the sticky `overrun`.
module edgeq_uart_rx #(
    parameter int CLKS_PER_BIT = 104
) (
    input  logic       ap_clk,
    input  logic       ap_rst_n,
    input  logic       rx,
    output logic [7:0] m_tdata,
    output logic       m_tvalid,
    input  logic       m_tready,
    output logic       overrun
);
  if (CLKS_PER_BIT < 4) begin : g_check
    $error("edgeq_uart_rx: CLKS_PER_BIT=%0d must be at least 4", CLKS_PER_BIT);
  end

  localparam int CW = $clog2(CLKS_PER_BIT + 1);
  typedef enum logic [1:0] {IDLE, START, DATA, STOP} state_t;

  state_t state_q;
  logic [1:0] sync_q;
  logic [CW-1:0] count_q;
  logic [2:0] bit_q;
  logic [7:0] shift_q;
  logic line;

  assign line = sync_q[1];

  always_ff @(posedge ap_clk) begin
    sync_q <= {sync_q[0], rx};
    if (!ap_rst_n) begin
      sync_q <= 2'b11;
      state_q <= IDLE;
      count_q <= '0;
      bit_q <= '0;
      m_tvalid <= 1'b0;
      overrun <= 1'b0;
    end else begin
      if (m_tvalid && m_tready) m_tvalid <= 1'b0;
      case (state_q)
        IDLE: if (!line) begin
          state_q <= START;
          count_q <= CW'(CLKS_PER_BIT / 2 - 1);
        end
        START: if (count_q != '0) count_q <= count_q - 1'b1;
        else if (line) state_q <= IDLE;  // a glitch, not a start bit
        else begin
          state_q <= DATA;
          count_q <= CW'(CLKS_PER_BIT - 1);
          bit_q <= '0;
        end
        DATA: if (count_q != '0) count_q <= count_q - 1'b1;
        else begin
          shift_q <= {line, shift_q[7:1]};
          count_q <= CW'(CLKS_PER_BIT - 1);
          bit_q <= bit_q + 1'b1;
          if (bit_q == 3'd7) state_q <= STOP;
        end
        STOP: if (count_q != '0) count_q <= count_q - 1'b1;
        else begin
          state_q <= IDLE;
          if (line) begin  // a valid stop bit: deliver the byte
            if (m_tvalid && !m_tready) overrun <= 1'b1;
            else begin
              m_tdata <= shift_q;
              m_tvalid <= 1'b1;
            end
          end
        end
        default: state_q <= IDLE;
      endcase
    end
  end
endmodule
