//! The host's side: load a plugin library and call its components through a safe API.
//!
//! Loading order is part of the contract: the file must exist; it must load as a shared
//! library; the version symbol must exist and return [`ABI_VERSION`] — only then is the
//! descriptor symbol looked up and read. A library, once loaded, is never unloaded (the
//! `Library` is leaked): instances, buffers and function pointers from it may live anywhere
//! in the process, and unloading code that may still run is how FFI hosts crash at exit.

use std::ffi::c_void;
use std::fmt;
use std::path::{Path, PathBuf};

use libloading::Library;

use crate::abi::*;
use crate::ValidateReport;

/// Why a plugin could not be loaded. Messages name the file and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("plugin file {} does not exist", .path.display())]
    NotFound { path: PathBuf },
    #[error("plugin path {} is a directory, not a shared library; give the library file itself (e.g. {}/libmy_plugin.so)", .path.display(), .path.display())]
    IsADirectory { path: PathBuf },
    #[error("plugin path {} is not a shared library: it is {what}, not a regular file", .path.display())]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("cannot read plugin file {}: {reason}", .path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{} is not a loadable shared library: {reason}", .path.display())]
    NotALibrary { path: PathBuf, reason: String },
    #[error("{} is not a tracegate plugin: it has no `{symbol}` symbol (a plugin crate exports it with tracegate_plugin_abi::export_plugin! and is built as a cdylib)", .path.display())]
    MissingSymbol { path: PathBuf, symbol: &'static str },
    #[error("{} was built for tracegate plugin ABI version {plugin}, but this tracegate speaks ABI version {host}; rebuild the plugin against a tracegate-plugin-abi with ABI_VERSION = {host}", .path.display())]
    VersionMismatch { path: PathBuf, plugin: u32, host: u32 },
    #[error("{} has a malformed plugin descriptor: {reason}", .path.display())]
    BadDescriptor { path: PathBuf, reason: String },
}

/// Only a regular file can be a shared library. Anything else is refused by what it is,
/// before the dynamic loader sees it: its own message for a directory or a device is
/// misleading, and a FIFO would block it forever.
fn check_file(path: &Path) -> Result<(), LoadError> {
    use std::os::unix::fs::FileTypeExt;
    let owned = || path.to_path_buf();
    let metadata = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(LoadError::NotFound { path: owned() }),
        Err(e) => return Err(LoadError::Unreadable { path: owned(), reason: e.to_string() }),
    };
    let kind = metadata.file_type();
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        return Err(LoadError::IsADirectory { path: owned() });
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(LoadError::NotAFile { path: owned(), what })
}

/// How a call into a plugin failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallStatus {
    Retryable,
    Permanent,
    /// The plugin panicked; the panic was caught inside the plugin.
    Panic,
}

/// A failed call: the status code and the plugin's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CallError {
    pub status: CallStatus,
    pub message: String,
}

impl CallError {
    fn from_status(status: i32, message: String) -> Self {
        let status = match status {
            STATUS_RETRYABLE => CallStatus::Retryable,
            STATUS_PANIC => CallStatus::Panic,
            STATUS_PERMANENT => CallStatus::Permanent,
            other => {
                return Self { status: CallStatus::Permanent, message: format!("unknown status {other}: {message}") };
            }
        };
        Self { status, message }
    }
}

/// The two component kinds a plugin can provide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComponentKind {
    Processor,
    Exporter,
}

/// The functions of one component, copied out of its descriptor.
#[derive(Clone, Copy)]
struct VTable {
    validate: ValidateFn,
    create: CreateFn,
    call: CallFn,
    destroy: DestroyFn,
    free_buffer: FreeBufferFn,
}

/// A loaded plugin library and the components it provides.
pub struct LoadedPlugin {
    path: PathBuf,
    name: String,
    components: Vec<LoadedComponent>,
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin").field("path", &self.path).field("name", &self.name).field("components", &self.components).finish()
    }
}

impl LoadedPlugin {
    /// Loads the library at `path` (and only there: the path is made absolute so the dynamic
    /// loader never searches its library path), checks the ABI version, reads the descriptor.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let owned = || path.to_path_buf();
        check_file(path)?;
        let absolute = std::path::absolute(path).map_err(|e| LoadError::NotALibrary { path: owned(), reason: e.to_string() })?;
        // SAFETY: loading a library runs its initialisers, i.e. arbitrary code. That is the
        // point of a plugin: the operator chose this file by listing it in the config.
        let library = unsafe { Library::new(&absolute) }
            .map_err(|e| LoadError::NotALibrary { path: owned(), reason: e.to_string() })?;
        // Never unloaded; see the module docs.
        let library: &'static Library = Box::leak(Box::new(library));
        let missing = |symbol| LoadError::MissingSymbol { path: owned(), symbol };
        // SAFETY: the ABI defines this symbol as `extern "C" fn() -> u32`; the library is
        // never unloaded, so the copied function pointer stays valid.
        let version: extern "C" fn() -> u32 =
            unsafe { library.get::<extern "C" fn() -> u32>(VERSION_SYMBOL.as_bytes()) }.map(|s| *s).map_err(|_| missing(VERSION_SYMBOL))?;
        // Checked before the descriptor symbol is even looked up: with another version, its
        // layout could be anything.
        let plugin_version = version();
        if plugin_version != ABI_VERSION {
            return Err(LoadError::VersionMismatch { path: owned(), plugin: plugin_version, host: ABI_VERSION });
        }
        // SAFETY: as above, with the type the ABI gives the descriptor symbol.
        let descriptor: extern "C" fn() -> *const PluginDescriptor =
            unsafe { library.get::<extern "C" fn() -> *const PluginDescriptor>(DESCRIPTOR_SYMBOL.as_bytes()) }
                .map(|s| *s)
                .map_err(|_| missing(DESCRIPTOR_SYMBOL))?;
        // SAFETY: the library said it speaks this ABI version, whose contract is that the
        // descriptor function returns a pointer to static, well-formed descriptor data.
        unsafe { Self::from_descriptor(path, descriptor()) }
    }

    /// Reads a descriptor the version handshake has vouched for. Also used by tests and
    /// benches to call a plugin linked into the same binary without `dlopen`.
    ///
    /// # Safety
    /// `descriptor` must be null or point at a descriptor of [`ABI_VERSION`] that stays valid
    /// (with everything it points to) for the rest of the process.
    pub unsafe fn from_descriptor(path: &Path, descriptor: *const PluginDescriptor) -> Result<Self, LoadError> {
        let bad = |reason: String| LoadError::BadDescriptor { path: path.to_path_buf(), reason };
        if descriptor.is_null() {
            return Err(bad("the descriptor pointer is null".into()));
        }
        // SAFETY: non-null and valid per the contract; `size` is the first field of every
        // version, so it can be read before knowing how large the rest is.
        let size = unsafe { descriptor.cast::<u32>().read() } as usize;
        if size < std::mem::size_of::<PluginDescriptor>() {
            return Err(bad(format!("it is {size} bytes, ABI version {ABI_VERSION} needs at least {}", std::mem::size_of::<PluginDescriptor>())));
        }
        // SAFETY: at least as large as the struct we read, per the size check.
        let d = unsafe { &*descriptor };
        if d.abi_version != ABI_VERSION {
            return Err(bad(format!("it says ABI version {}, the version symbol said {ABI_VERSION}", d.abi_version)));
        }
        // SAFETY: the contract makes `name` point at `name_len` bytes of static data.
        let name = unsafe { text(d.name, d.name_len) }.map_err(|e| bad(format!("plugin name: {e}")))?;
        if d.component_count > 0 && d.components.is_null() {
            return Err(bad("the component list is null".into()));
        }
        let mut components = Vec::new();
        for i in 0..d.component_count as usize {
            // SAFETY: `components` points at `component_count` pointers (checked non-null).
            let c = unsafe { *d.components.add(i) };
            // SAFETY: each entry is null or a valid component descriptor per the contract.
            let component = unsafe { LoadedComponent::read(c) }.map_err(|e| bad(format!("component {i}: {e}")))?;
            components.push(component);
        }
        Ok(Self { path: path.to_path_buf(), name, components })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The plugin's own name and version ("my-plugin 0.3.1").
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn components(&self) -> &[LoadedComponent] {
        &self.components
    }
}

/// # Safety
/// `ptr` must be null (with `len` 0) or point at `len` readable bytes.
unsafe fn text(ptr: *const u8, len: u32) -> Result<String, String> {
    if ptr.is_null() {
        return if len == 0 { Ok(String::new()) } else { Err("null pointer".into()) };
    }
    // SAFETY: per the function's contract.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len as usize) };
    std::str::from_utf8(bytes).map(str::to_string).map_err(|e| format!("not UTF-8: {e}"))
}

/// One component type a plugin provides; cheap to clone.
#[derive(Clone)]
pub struct LoadedComponent {
    kind: ComponentKind,
    type_name: String,
    vtable: VTable,
}

impl fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedComponent").field("kind", &self.kind).field("type_name", &self.type_name).finish()
    }
}

impl LoadedComponent {
    /// # Safety
    /// `c` must be null or point at a component descriptor valid for the process's life.
    unsafe fn read(c: *const ComponentDescriptor) -> Result<Self, String> {
        if c.is_null() {
            return Err("null descriptor".into());
        }
        // SAFETY: non-null and valid; `size` comes first in every version.
        let size = unsafe { c.cast::<u32>().read() } as usize;
        if size < std::mem::size_of::<ComponentDescriptor>() {
            return Err(format!("it is {size} bytes, at least {} expected", std::mem::size_of::<ComponentDescriptor>()));
        }
        // SAFETY: large enough per the size check.
        let c = unsafe { &*c };
        let kind = match c.kind {
            KIND_PROCESSOR => ComponentKind::Processor,
            KIND_EXPORTER => ComponentKind::Exporter,
            other => return Err(format!("unknown component kind {other} (1 = processor, 2 = exporter)")),
        };
        // SAFETY: the contract makes `type_name` point at `type_name_len` static bytes.
        let type_name = unsafe { text(c.type_name, c.type_name_len) }?;
        let need = |f: &str| format!("\"{type_name}\" has no `{f}` function");
        let vtable = VTable {
            validate: c.validate.ok_or_else(|| need("validate"))?,
            create: c.create.ok_or_else(|| need("create"))?,
            call: c.call.ok_or_else(|| need("call"))?,
            destroy: c.destroy.ok_or_else(|| need("destroy"))?,
            free_buffer: c.free_buffer.ok_or_else(|| need("free_buffer"))?,
        };
        Ok(Self { kind, type_name, vtable })
    }

    pub fn kind(&self) -> ComponentKind {
        self.kind
    }

    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// Asks the plugin to check a config (JSON). `Err` only when the call itself failed (a
    /// panic, an unreadable report); config problems are in the report.
    pub fn validate(&self, config_json: &[u8]) -> Result<ValidateReport, CallError> {
        let mut out = RawBuffer::empty();
        // SAFETY: the input is valid for the call and `out` is a writable local; the function
        // pointer comes from a descriptor that passed the handshake.
        let status = unsafe { (self.vtable.validate)(config_json.as_ptr(), config_json.len() as u64, &mut out) };
        let out = PluginBuffer { raw: out, free: self.vtable.free_buffer };
        if status != STATUS_OK {
            return Err(CallError::from_status(status, out.lossy()));
        }
        serde_json::from_slice(&out).map_err(|e| CallError {
            status: CallStatus::Permanent,
            message: format!("the plugin's validation report is not readable: {e}"),
        })
    }

    /// Creates an instance from a config (JSON).
    pub fn create(&self, config_json: &[u8]) -> Result<PluginInstance, CallError> {
        let mut handle: *mut c_void = std::ptr::null_mut();
        let mut error = RawBuffer::empty();
        // SAFETY: as in `validate`; `handle` and `error` are writable locals.
        let status =
            unsafe { (self.vtable.create)(config_json.as_ptr(), config_json.len() as u64, &mut handle, &mut error) };
        let error = PluginBuffer { raw: error, free: self.vtable.free_buffer };
        if status != STATUS_OK {
            return Err(CallError::from_status(status, error.lossy()));
        }
        if handle.is_null() {
            return Err(CallError { status: CallStatus::Permanent, message: "the plugin returned no instance".into() });
        }
        Ok(PluginInstance { handle, vtable: self.vtable })
    }
}

/// A live instance inside a plugin; destroyed (in the plugin) when dropped.
pub struct PluginInstance {
    handle: *mut c_void,
    vtable: VTable,
}

// SAFETY: the ABI requires instances to be usable from any thread and concurrently (the Rust
// glue enforces it with `PluginComponent: Send + Sync`), and `handle` is owned by this value.
unsafe impl Send for PluginInstance {}
// SAFETY: as above; `call` takes `&self` and the plugin side only takes shared references.
unsafe impl Sync for PluginInstance {}

impl PluginInstance {
    /// Processes (processor) or exports (exporter) one OTLP `ExportTraceServiceRequest`
    /// (protobuf). A processor's result is the batch to pass on, as protobuf.
    pub fn call(&self, request: &[u8]) -> Result<PluginBuffer, CallError> {
        let mut out = RawBuffer::empty();
        // SAFETY: `handle` is live until drop; input and `out` are valid for the call.
        let status = unsafe { (self.vtable.call)(self.handle, request.as_ptr(), request.len() as u64, &mut out) };
        let out = PluginBuffer { raw: out, free: self.vtable.free_buffer };
        if status == STATUS_OK {
            Ok(out)
        } else {
            Err(CallError::from_status(status, out.lossy()))
        }
    }
}

impl Drop for PluginInstance {
    fn drop(&mut self) {
        // SAFETY: the handle came from `create`, is destroyed once, and no call can be running
        // (calls borrow `self`).
        unsafe { (self.vtable.destroy)(self.handle) }
    }
}

/// Bytes the plugin allocated; given back to the plugin's `free_buffer` on drop.
pub struct PluginBuffer {
    raw: RawBuffer,
    free: FreeBufferFn,
}

// SAFETY: the buffer is exclusively owned; the ABI lets `free_buffer` run on any thread.
unsafe impl Send for PluginBuffer {}

impl PluginBuffer {
    fn lossy(&self) -> String {
        String::from_utf8_lossy(self).into_owned()
    }
}

impl std::ops::Deref for PluginBuffer {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        if self.raw.ptr.is_null() || self.raw.len == 0 {
            return &[];
        }
        // SAFETY: the plugin handed out `len` initialised bytes at `ptr`, owned by this value
        // until drop.
        unsafe { std::slice::from_raw_parts(self.raw.ptr, self.raw.len as usize) }
    }
}

impl Drop for PluginBuffer {
    fn drop(&mut self) {
        let raw = std::mem::replace(&mut self.raw, RawBuffer::empty());
        if !raw.ptr.is_null() {
            // SAFETY: the plugin allocated this buffer and it is returned exactly once.
            unsafe { (self.free)(raw) }
        }
    }
}
