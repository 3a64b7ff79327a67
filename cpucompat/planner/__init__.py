"""The capacity planner: a fleet of hosts (`fleet`), read from inventories
(`inventory`), partitioned into migration domains, drawn and reported
(`report`).  Imports the inputs, the engine and the ground floor.
"""
