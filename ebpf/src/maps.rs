//! Typed handles on the maps of the program set and of one container: the key and value
//! types are the map's, so a lookup cannot read the wrong struct (aya's typed maps do the same
//! for maps aya owns; these are opened from pins or created here, by fd).

use std::{
    io,
    marker::PhantomData,
    os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
    path::Path,
};

use crate::{sys, EbpfError};

/// A BPF map with keys `K` and values `V`.
pub struct MapHandle<K, V> {
    name: &'static str,
    fd: OwnedFd,
    _types: PhantomData<fn(K) -> V>,
}

impl<K: sys::Plain, V: sys::Plain> MapHandle<K, V> {
    pub(crate) fn new(name: &'static str, fd: OwnedFd) -> Self {
        MapHandle { name, fd, _types: PhantomData }
    }

    /// Opens the map pinned at `dir/name`.
    pub(crate) fn from_pin(dir: &Path, name: &'static str) -> Result<Self, EbpfError> {
        let path = dir.join(name);
        let fd = sys::obj_get(&path).map_err(|source| EbpfError::FromPin { path, source })?;
        Ok(Self::new(name, fd))
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub(crate) fn err(&self, op: &'static str) -> impl FnOnce(io::Error) -> EbpfError + '_ {
        move |source| EbpfError::Map { map: self.name, op, source }
    }

    pub fn get(&self, key: &K) -> Result<Option<V>, EbpfError> {
        sys::map_lookup(self.fd(), key).map_err(self.err("lookup"))
    }

    pub fn set(&self, key: &K, value: &V, op: &'static str) -> Result<(), EbpfError> {
        sys::map_update(self.fd(), key, value).map_err(self.err(op))
    }

    /// Removes `key`; Ok(false) if it was not there.
    pub fn remove(&self, key: &K, op: &'static str) -> Result<bool, EbpfError> {
        sys::map_delete(self.fd(), key).map_err(self.err(op))
    }

    pub fn keys(&self) -> Result<Vec<K>, EbpfError> {
        sys::map_keys(self.fd()).map_err(self.err("walk"))
    }

    /// Memory the kernel accounts for the map (fdinfo `memlock`).
    pub fn memlock(&self) -> Result<u64, EbpfError> {
        sys::fd_memlock(self.fd()).map_err(self.err("fdinfo"))
    }

    pub(crate) fn pin(&self, dir: &Path) -> Result<(), EbpfError> {
        let path = dir.join(self.name);
        sys::obj_pin(self.fd(), &path).map_err(|source| EbpfError::Pin { path, source })
    }

    pub(crate) fn try_clone(&self) -> Result<OwnedFd, EbpfError> {
        self.fd.try_clone().map_err(self.err("dup"))
    }
}

/// A map of maps keyed by container id: its values are inner maps, given by fd.
pub type OuterMap = MapHandle<u64, u32>;

impl OuterMap {
    /// Makes `inner` the container's map.
    pub fn insert_inner(&self, id: u64, inner: BorrowedFd<'_>) -> Result<(), EbpfError> {
        let fd = inner.as_raw_fd() as u32;
        self.set(&id, &fd, "insert the container's map")
    }
}
