"""Trust network: the GDHCN service (participants, keys, trust lists, revocation, rules) and the
offline verifier and issuer for EU DCC / WHO DDCC HCERT and SMART Health Cards."""
