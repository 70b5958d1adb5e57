"""The four errors of the contract. A client sees nameko's RemoteError with
`exc_type` set to the class name, so the names are part of the contract."""
import json


class ContractError(Exception):
    pass


class ValidationFailed(ContractError):
    """Message is JSON {"field.path": ["problem", ...]} listing every problem."""

    def __init__(self, problems):
        if isinstance(problems, str):
            problems = {"_schema": [problems]}
        self.problems = {k: list(v) for k, v in problems.items()}
        super().__init__(json.dumps(self.problems, ensure_ascii=False, sort_keys=True))


class NotFound(ContractError):
    pass


class Conflict(ContractError):
    pass


class Forbidden(ContractError):
    pass


CONTRACT_ERRORS = (ValidationFailed, NotFound, Conflict, Forbidden)


class PrerequisiteMissing(Exception):
    """An event came before the one it builds on (it travelled on another
    queue, or its sender was down). Not a failure: the inbox keeps the event
    and runs it again on a schedule that outlasts a long outage, and parks it
    only when the wait runs out. Never reaches a caller."""
