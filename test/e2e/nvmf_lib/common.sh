# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
# Compatibility name: the e2e helpers live in test/e2e/lib/common.sh (one library for every e2e
# test). A script that sets NAME and sources this file gets the same as sourcing that one.
# shellcheck source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
