"""dcpki cloud-CA emulator: a local, independent implementation of the
DigiCert signing service (Software Trust Manager REST API) and, beside it,
the PKI Platform web services. Python 3 stdlib + python3-cryptography only.

Modules, one concern each:
  state        CAs, keys, serial counter, issued and revoked certificates on disk
  server       HTTPS (mutual TLS) server with a route table other modules register into
  faults       fault injection from STATE/faults.json
  signing_api  /signingmanager/api/v1/ (keypairs, sign)
  pki_platform /pki-ws/ SOAP services (policy, enrollment, management, health)
  cli          command line (serve, ra-issue, ra-revoke, fault, approve, profile, health)
"""
