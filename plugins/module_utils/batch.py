# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The batch form of a module: one list option whose items take the module's own options.

A role that onboards hundreds of users cannot afford a Python process per user per step (start-up and imports
cost more than the API calls), so every module that works on the controller also takes a list. Top-level options
are the defaults of every item; an item's own value wins. The single form is a batch of one.
"""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.kubeaccess.x509.plugins.module_utils.k8s_client import KubeClient

SPEC_KEYS_NOT_IN_ITEMS = ("default", "required", "fallback")
# Options of the batch form itself (doc fragment kubeaccess.x509.batch).
BATCH_ARG_SPEC = dict(continue_on_error=dict(type="bool", default=False))


class BatchInputError(Exception):
    """An item of the list option is malformed."""


def batch_argument_spec(item_spec, list_option):
    """`item_spec` plus `list_option`, a list of dicts whose items `item_params` checks against `item_spec`, and
    the options of the batch form."""
    return dict(item_spec, **BATCH_ARG_SPEC, **{list_option: dict(type="list", elements="dict")})


def identity_of(*options):
    """`identity` for run_batch: the given options of an item, those that tell whose result it is."""
    return lambda params: {option: params[option] for option in options if params.get(option) is not None}


def item_params(params, item_spec, list_option, shared=()):
    """The effective parameters of every item: the top level, overridden by what each item sets.

    Items take every option of `item_spec` except the `shared` ones (the connection) and secrets: Ansible masks
    only top-level secrets in what it logs. Item options have no defaults, so an option an item leaves out inherits
    the top-level value.
    """
    items = params.get(list_option)
    if items is None:
        return [dict(params, **{list_option: None})]
    validator = ArgumentSpecValidator({
        option: {key: value for key, value in spec.items() if key not in SPEC_KEYS_NOT_IN_ITEMS}
        for option, spec in item_spec.items() if option not in shared and not spec.get("no_log")
    })
    effective, errors = [], []
    for index, item in enumerate(items):
        checked = validator.validate(item)
        errors += [f"{list_option}[{index}]: {message}" for message in checked.error_messages]
        given = {k: v for k, v in checked.validated_parameters.items() if k in item and v is not None}
        effective.append(dict(params, **{list_option: None}, **given))
    if errors:
        raise BatchInputError("; ".join(errors))
    return effective


class ItemModule:
    """What the per-item code needs of AnsibleModule, with the item's own parameters and the shared connection."""

    def __init__(self, module, params, client):
        self.params = params
        self.check_mode = module.check_mode
        self.diff_mode = module._diff  # pylint: disable=protected-access
        self.warn = module.warn
        self.client = client


class SharedClient:
    """One API connection for all items, made on first use: items that need no API call never import kubernetes."""

    def __init__(self, params):
        self.params = params
        self.client = None

    def __call__(self):
        if self.client is None:
            self.client = KubeClient(self.params)
        return self.client


def run_batch(module, item_spec, list_option, make_runner, errors, describe, shared=(), conclude=None, client=None,
              identity=None):
    """Check every item, then do every item, and end the module with the result.

    `make_runner(item)` reads and checks one item without changing anything, raising one of `errors` on bad
    input; the runner's `run()` does the work, then its optional `finish()` (after every item's `run()`), and its
    `result` dict is the item's result. Bad input in any item fails the task before any item is done, unless
    `continue_on_error`: then that item alone is refused, with nothing of it done. The single form returns the
    item's result at the top level; the batch form returns `results` (one per item, in order, each carrying
    `identity(params)`, the fields that tell whose it is) and, after doing every item it could, fails naming each
    item that failed (with `continue_on_error`, it succeeds and each failed item has `failed` and `msg`). An empty
    list is a batch of none. `conclude(result, item_params)`, in the batch form, adds what concerns the whole batch
    (pruning what is not listed) to the result once every item is done. `client` is the module's own SharedClient
    when it reads through it too, so that the run makes one connection.
    """
    client = client or SharedClient(module.params)
    try:
        all_params = item_params(module.params, item_spec, list_option, shared)
    except BatchInputError as exc:
        module.fail_json(msg=str(exc), changed=False)
    items = [ItemModule(module, params, client) for params in all_params]
    keep_going = bool(module.params.get("continue_on_error")) and module.params.get(list_option) is not None
    runners, refusals = [], []
    for index, item in enumerate(items):
        try:
            runners.append(make_runner(item))
        except errors as exc:
            refusals.append(_name_item(module, list_option, index, describe(item.params), exc))
            runners.append(_Refused(item.params, exc))
    if refusals and not keep_going:
        module.fail_json(msg=" | ".join(refusals), changed=False)
    failures = list(refusals)
    # Waiting (for certificates) is a second phase, so that a batch waits once for all items, not item by item.
    for phase in ("run", "finish"):
        for index, runner in enumerate(runners):
            if runner.result.get("failed") or not hasattr(runner, phase):
                continue
            try:
                getattr(runner, phase)()
            except errors as exc:
                runner.result.update(failed=True, msg=str(exc))
                failures.append(_name_item(module, list_option, index, describe(runner.params), exc))
    if module.params.get(list_option) is None:
        result = runners[0].result
        if result.pop("failed", False):
            module.fail_json(**result)
        module.exit_json(**result)
    results = [dict(identity(runner.params) if identity else {}, **runner.result) for runner in runners]
    combined = {"changed": any(r.get("changed") for r in results), "results": results}
    diffs = [r["diff"] for r in results if r.get("diff")]
    if diffs:
        combined["diff"] = diffs
    concluded = True
    if conclude:
        try:
            conclude(combined, [runner.params for runner in runners])
        except errors as exc:
            failures.append(str(exc))
            concluded = False
    # What concerns the whole batch failing fails the task, whatever continue_on_error says.
    if failures and (not keep_going or not concluded):
        module.fail_json(msg=f"{len(failures)} of {len(results)} {list_option} failed: " + " | ".join(failures),
                         **combined)
    if failures:
        combined["failed_items"] = len(failures)
    module.exit_json(**combined)


class _Refused:
    """An item refused for its input (with continue_on_error): failed, nothing of it done."""

    def __init__(self, params, exc):
        self.params = params
        self.result = {"changed": False, "failed": True, "msg": str(exc)}


def _name_item(module, list_option, index, description, exc):
    if module.params.get(list_option) is None:
        return str(exc)
    return f"{list_option}[{index}] ({description}): {exc}"
