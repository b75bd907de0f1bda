"""Over-the-air testing with pytest: the plugin (`pytool.hil.plugin`, registered as the `pytest11` entry point
`pytool_hil`), which boards a run has and the `boards[ROLE]` handle (`pytool.hil.boards`), what each test leaves
behind (`pytool.hil.reports`: logs, failure sections, JUnit properties) and the helpers its fixtures hand to
tests (`pytool.hil.probe`).

The board session the fixtures use is product code: `pytool.monitor.BoardMonitor` (serial, with a capture of
everything printed) and `pytool.air` (finding the board on the air, a logging bleak client).
"""
