// Stream fork: every input beat goes to both outputs; the input is released once both have
// taken it (each output may take it in a different cycle).
module edgeq_fork #(
    parameter int WIDTH = 8
) (
    input  logic             ap_clk,
    input  logic             ap_rst_n,
    input  logic [WIDTH-1:0] s_tdata,
    input  logic             s_tvalid,
    output logic             s_tready,
    output logic [WIDTH-1:0] m0_tdata,
    output logic             m0_tvalid,
    input  logic             m0_tready,
    output logic [WIDTH-1:0] m1_tdata,
    output logic             m1_tvalid,
    input  logic             m1_tready
);
  logic done0_q, done1_q;  // this beat was already taken by output 0 / 1
  assign m0_tdata = s_tdata;
  assign m1_tdata = s_tdata;
  assign m0_tvalid = s_tvalid && !done0_q;
  assign m1_tvalid = s_tvalid && !done1_q;
  assign s_tready = (m0_tready || done0_q) && (m1_tready || done1_q);
  always_ff @(posedge ap_clk) begin
    if (!ap_rst_n || (s_tvalid && s_tready)) begin
      done0_q <= 1'b0;
      done1_q <= 1'b0;
    end else begin
      if (m0_tvalid && m0_tready) done0_q <= 1'b1;
      if (m1_tvalid && m1_tready) done1_q <= 1'b1;
    end
  end
endmodule
