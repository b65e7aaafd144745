"""Pure canary gate: verdicts per evaluation, the state machine, and the patch each action needs. No I/O."""
