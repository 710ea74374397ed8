"""Network access for the sandbox: the administrator's policy (``policy``) and the host broker
that opens connections for the guest (``broker``)."""
