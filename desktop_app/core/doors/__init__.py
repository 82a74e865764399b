"""The door runtime: door controllers (lock state, fail modes, remote open, door contact),
anti-passback, alerts, and the runner that drives several cameras and doors at once."""
