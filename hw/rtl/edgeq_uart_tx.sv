// UART transmitter, 8N1, LSB first. CLKS_PER_BIT clock cycles per bit. Takes a byte when idle
// (s_tready high) and shifts out start bit, 8 data bits and stop bit; tx idles high.
module edgeq_uart_tx #(
    parameter int CLKS_PER_BIT = 104
) (
    input  logic       ap_clk,
    input  logic       ap_rst_n,
    input  logic [7:0] s_tdata,
    input  logic       s_tvalid,
    output logic       s_tready,
    output logic       tx
);
  localparam int CW = $clog2(CLKS_PER_BIT + 1);

  logic [9:0] shift_q;  // stop, data[7:0], start; bit 0 is on the line
  logic [3:0] bits_q;   // bits left to send
  logic [CW-1:0] count_q;

  assign s_tready = bits_q == '0;
  assign tx = shift_q[0];

  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n) begin
      shift_q <= '1;
      bits_q <= '0;
      count_q <= '0;
    end else if (s_tvalid && s_tready) begin
      shift_q <= {1'b1, s_tdata, 1'b0};
      bits_q <= 4'd10;
      count_q <= CW'(CLKS_PER_BIT - 1);
    end else if (bits_q != '0) begin
      if (count_q != '0) count_q <= count_q - 1'b1;
      else begin
        shift_q <= {1'b1, shift_q[9:1]};
        bits_q <= bits_q - 1'b1;
        count_q <= CW'(CLKS_PER_BIT - 1);
      end
    end
  end
endmodule
