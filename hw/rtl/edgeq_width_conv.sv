// Stream width converter (gearbox): IN_ELEMS elements per input beat to OUT_ELEMS per output
// beat, elements in order (element 0 in the LSBs). The vector length must be a multiple of
// both, so beats never straddle vectors. Holds IN_ELEMS + OUT_ELEMS elements, enough to
// accept a beat and emit a beat every cycle at the slower side's full rate.
module edgeq_width_conv #(
    parameter int BITS = 8,
    parameter int IN_ELEMS = 4,
    parameter int OUT_ELEMS = 2
) (
    input  logic                      ap_clk,
    input  logic                      ap_rst_n,
    input  logic [ IN_ELEMS*BITS-1:0] s_tdata,
    input  logic                      s_tvalid,
    output logic                      s_tready,
    output logic [OUT_ELEMS*BITS-1:0] m_tdata,
    output logic                      m_tvalid,
    input  logic                      m_tready
);
  if (IN_ELEMS < 1 || OUT_ELEMS < 1) begin : g_check
    $error("edgeq_width_conv: IN_ELEMS=%0d and OUT_ELEMS=%0d must be positive", IN_ELEMS,
           OUT_ELEMS);
  end

  if (IN_ELEMS == OUT_ELEMS) begin : g_wire
    assign m_tdata  = s_tdata;
    assign m_tvalid = s_tvalid;
    assign s_tready = m_tready;
    wire unused = &{1'b0, ap_clk, ap_rst_n};
  end else begin : g_gearbox
    localparam int CAP = IN_ELEMS + OUT_ELEMS;
    localparam int CW = $clog2(CAP + 1);

    logic [BITS-1:0] buf_q[CAP];
    logic [CW-1:0] count_q;
    logic push, pop;

    assign m_tvalid = count_q >= CW'(OUT_ELEMS);
    assign s_tready = count_q <= CW'(CAP - IN_ELEMS);  // a flop-only ready: ignores this pop
    assign push = s_tvalid && s_tready;
    assign pop = m_tvalid && m_tready;

    for (genvar i = 0; i < OUT_ELEMS; i++) begin : g_out
      assign m_tdata[i*BITS+:BITS] = buf_q[i];
    end

    // after the pop, element i comes from buf_q[i + OUT_ELEMS]; the pushed beat lands behind
    logic [CW-1:0] kept;
    assign kept = pop ? count_q - CW'(OUT_ELEMS) : count_q;

    always_ff @(posedge ap_clk) begin
      for (int i = 0; i < CAP; i++) begin
        if (push && i >= int'(kept) && i < int'(kept) + IN_ELEMS) begin
          buf_q[i] <= s_tdata[(i-int'(kept))*BITS+:BITS];
        end else if (pop && i + OUT_ELEMS < CAP) begin
          buf_q[i] <= buf_q[i+OUT_ELEMS];
        end
      end
      if (!ap_rst_n) count_q <= '0;
      else count_q <= kept + (push ? CW'(IN_ELEMS) : CW'(0));
    end
  end
endmodule
