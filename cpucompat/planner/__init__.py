"""The capacity planner: a fleet of hosts (`fleet`), read from inventories
(`inventory`, a package: one module per kind of source), partitioned into
migration domains, drawn and reported (`report`); the running guests a
fleet would strand, from a guests file (`guests`).  Imports the inputs,
the engine and the ground floor.
"""
