/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Everything a hook file needs: the ABI (abi.h), the maps (maps.h), the container helpers
 * (container.h). */
#ifndef CGFW_H
#define CGFW_H
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "abi.h"
#include "maps.h"
#include "container.h"
#endif /* CGFW_H */
