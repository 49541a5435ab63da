/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The object's license. Each hook family lives in its own file, compiled on its own; build.rs
 * links them with this one into the object the loader embeds (one object: the unit of map
 * sharing for the loader).
 */
#include "cgfw.h"

char LICENSE[] SEC("license") = "GPL";
