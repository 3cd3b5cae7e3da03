"""Boards the bitstream flow knows: FPGA part, clock, UART and LED pins, programming command.

Pins are from the boards' published constraint files: iCEBreaker (icestorm's
examples/icebreaker/icebreaker.pcf: 12 MHz clock on 35, FTDI UART RX 6 / TX 9, red LED 11,
active low); ULX3S (emard/ulx3s doc/constraints/ulx3s_v20.lpf: 25 MHz clock on G2, FPGA
receives on M1 (ftdi_txd) and transmits on L4 (ftdi_rxd), led[0] on B2, active high).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Board:
    name: str
    family: str           # "ice40" or "ecp5"
    nextpnr_device: tuple  # nextpnr's device and package arguments
    clock_mhz: float
    clock_pin: str
    rx_pin: str
    tx_pin: str
    led_pin: str
    led_active_low: bool
    luts: int             # logic cells / LUT4s of the part, for messages
    loader_board: str     # openFPGALoader -b NAME

    @property
    def constraints_file(self) -> str:
        return f"{self.name}.{'pcf' if self.family == 'ice40' else 'lpf'}"

    @property
    def bitstream_file(self) -> str:
        return "design.bin" if self.family == "ice40" else "design.bit"

    def constraints(self) -> str:
        """Pin constraints; the RX input gets a pull-up so an unplugged line reads idle."""
        ports = {"clk": self.clock_pin, "uart_rx": self.rx_pin, "uart_tx": self.tx_pin,
                 "led_overrun": self.led_pin}
        if self.family == "ice40":
            return "".join(f"set_io{' -pullup yes' if port == 'uart_rx' else ''} {port} {pin}\n"
                           for port, pin in ports.items())
        lines = [f'LOCATE COMP "{port}" SITE "{pin}";\nIOBUF PORT "{port}" '
                 f'{"PULLMODE=UP " if port == "uart_rx" else ""}IO_TYPE=LVCMOS33;\n'
                 for port, pin in ports.items()]
        return "".join(lines) + f'FREQUENCY PORT "clk" {self.clock_mhz:g} MHZ;\n'


BOARDS = {
    "icebreaker": Board("icebreaker", "ice40", ("--up5k", "--package", "sg48"), 12.0,
                        "35", "6", "9", "11", True, 5280, "icebreaker"),
    "ulx3s": Board("ulx3s", "ecp5", ("--85k", "--package", "CABGA381"), 25.0,
                   "G2", "M1", "L4", "B2", False, 83640, "ulx3s"),
    "ulx3s-25f": Board("ulx3s-25f", "ecp5", ("--25k", "--package", "CABGA381"), 25.0,
                       "G2", "M1", "L4", "B2", False, 24288, "ulx3s"),
}


def board(name: str) -> Board:
    if name not in BOARDS:
        raise ValueError(f"unknown board {name!r}; choose one of {', '.join(BOARDS)}")
    return BOARDS[name]
