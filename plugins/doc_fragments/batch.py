# Copyright (c) kubeaccess.x509 contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  continue_on_error:
    description:
      - In the batch form, an item whose input is refused fails alone, with nothing of it done, instead of failing
        the task before any item is done; and the task succeeds even when items fail. Each failed item's result has
        C(failed) and C(msg), and RV(failed_items) counts them.
      - A failure of what concerns the whole batch (the connection options, pruning) still fails the task.
      - For a caller that reports each item on its own, as the P(kubeaccess.x509.user_access#role) role reports
        each user on the user's own host.
    type: bool
    default: false
    version_added: 0.1.0
"""
