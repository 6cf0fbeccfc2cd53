//! [`ScriptedKvmHost`]: a [`KvmHost`] whose every call can be answered with any value
//! or errno, in sequence, and which accounts for every fd it hands out.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::Path;
use std::sync::Mutex;

use kvm_bindings as kb;
use probe_core::Operation;
use probe_kvm::{AclEntry, DeviceNode, Errno, Fd, GuestExit, Identity, KvmHost, Rlimit, StepFailure};

/// A call of the KVM logic that a script can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KvmCall {
    /// `stat` of the device.
    Stat,
    /// `open` of the device.
    Open,
    /// `KVM_GET_API_VERSION`.
    GetApiVersion,
    /// `KVM_CHECK_EXTENSION` (any capability).
    CheckExtension,
    /// `KVM_CREATE_VM`.
    CreateVm,
    /// `KVM_CREATE_VCPU`.
    CreateVcpu,
    /// The guest run (memory, registers, `KVM_RUN`).
    RunGuest,
    /// `getrlimit` (either resource).
    Rlimit,
}

impl KvmCall {
    /// Every call, in the order the logic makes them.
    pub const ALL: [KvmCall; 8] = [
        KvmCall::Stat,
        KvmCall::Open,
        KvmCall::GetApiVersion,
        KvmCall::CheckExtension,
        KvmCall::CreateVm,
        KvmCall::CreateVcpu,
        KvmCall::RunGuest,
        KvmCall::Rlimit,
    ];

    /// The operation a failure of this call is reported under.
    pub fn operation(self) -> Operation {
        match self {
            KvmCall::Stat => Operation::Stat,
            KvmCall::Open => Operation::Open,
            KvmCall::GetApiVersion => Operation::GetApiVersion,
            KvmCall::CheckExtension => Operation::CheckExtension,
            KvmCall::CreateVm => Operation::CreateVm,
            KvmCall::CreateVcpu => Operation::CreateVcpu,
            KvmCall::RunGuest => Operation::Run,
            KvmCall::Rlimit => Operation::GetRlimit,
        }
    }
}

/// How a scripted call answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// As a healthy host would.
    Healthy,
    /// Fails with this errno.
    Errno(Errno),
    /// Succeeds with this value (API version, capability value, KVM exit reason,
    /// soft rlimit); for calls that return an fd, any value means success.
    Value(i64),
    /// For the composite guest run: the step `operation` (mmap, registers, `KVM_RUN`)
    /// fails with this errno. Elsewhere the same as [`Answer::Errno`].
    StepErrno(Operation, Errno),
}

impl Answer {
    /// The errno this answer injects, if any.
    pub fn errno(self) -> Option<Errno> {
        match self {
            Answer::Errno(e) | Answer::StepErrno(_, e) => Some(e),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
struct Script {
    queued: VecDeque<Answer>,
    then: Option<Answer>,
}

/// What the scripted host handed out and got back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    /// fds handed out (device, VMs, vCPUs), in order.
    pub opened: Vec<Fd>,
    /// fds closed, in order.
    pub closed: Vec<Fd>,
    /// VMs created.
    pub vms_created: usize,
    /// VM fds closed.
    pub vms_destroyed: usize,
    /// Closes of an fd that was not open (double close, foreign fd).
    pub bad_closes: Vec<Fd>,
    /// Every call made, with the answer given.
    pub calls: Vec<(KvmCall, Answer)>,
}

impl Account {
    /// fds still open.
    pub fn leaked(&self) -> Vec<Fd> {
        let closed: BTreeSet<i32> = self.closed.iter().map(|f| f.0).collect();
        self.opened.iter().filter(|f| !closed.contains(&f.0)).copied().collect()
    }

    /// True when every fd handed out was closed exactly once, and every VM destroyed.
    pub fn balanced(&self) -> bool {
        self.leaked().is_empty() && self.bad_closes.is_empty() && self.vms_created == self.vms_destroyed
    }
}

#[derive(Debug, Default)]
struct State {
    scripts: HashMap<KvmCall, Script>,
    next_fd: i32,
    open: BTreeMap<i32, FdKind>,
    account: Account,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FdKind {
    System,
    Vm,
    Vcpu,
}

/// A scripted KVM host. By default it behaves as a healthy Intel host with KVM; each
/// call can be scripted to answer differently, in sequence.
#[derive(Debug)]
pub struct ScriptedKvmHost {
    state: Mutex<State>,
    files: BTreeMap<String, String>,
    dirs: BTreeMap<String, Vec<String>>,
    node: DeviceNode,
    identity: Identity,
    env: BTreeMap<String, String>,
    caps: BTreeMap<u32, i32>,
    links: BTreeMap<String, String>,
    acl: Option<Vec<AclEntry>>,
}

/// gid of the `kvm` group on the scripted host.
pub const KVM_GID: u32 = 993;
/// uid of the scripted user `alice`.
pub const USER_UID: u32 = 1000;

impl Default for ScriptedKvmHost {
    fn default() -> Self {
        Self::healthy()
    }
}

impl ScriptedKvmHost {
    /// A healthy host: Intel CPU with vmx, kvm_intel loaded (nested=Y), `/dev/kvm`
    /// char 10:232 root:kvm 0660, the user `alice` in group kvm.
    pub fn healthy() -> Self {
        let files = [
            ("/proc/sys/kernel/osrelease", "6.8.0-scripted\n"),
            ("/proc/misc", "232 kvm\n 58 rfkill\n183 hw_random\n"),
            ("/proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme sse sse2 vmx lm\n"),
            ("/sys/module/kvm_intel/parameters/nested", "Y\n"),
            ("/sys/module/kvm/parameters/enable_virt_at_load", "Y\n"),
            ("/etc/group", "root:x:0:\nkvm:x:993:alice\nalice:x:1000:\n"),
            ("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"),
            ("/proc/self/cgroup", "0::/user.slice\n"),
            ("/proc/meminfo", "MemTotal:       16384000 kB\nMemAvailable:    8000000 kB\n"),
        ];
        let mut caps = BTreeMap::new();
        caps.insert(kb::KVM_CAP_NR_VCPUS, 4);
        caps.insert(kb::KVM_CAP_MAX_VCPUS, 288);
        caps.insert(kb::KVM_CAP_MAX_VCPU_ID, 1024);
        caps.insert(kb::KVM_CAP_NR_MEMSLOTS, 509);
        caps.insert(kb::KVM_CAP_ARM_VM_IPA_SIZE, 40);
        ScriptedKvmHost {
            state: Mutex::new(State { next_fd: 100, ..State::default() }),
            files: files.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            dirs: [("/sys/module".to_owned(), vec!["kvm".to_owned(), "kvm_intel".to_owned(), "ext4".to_owned()])]
                .into_iter()
                .collect(),
            node: DeviceNode { is_char_device: true, major: 10, minor: 232, uid: 0, gid: KVM_GID, mode: 0o20660 },
            identity: Identity { uid: USER_UID, gid: USER_UID, groups: vec![USER_UID, KVM_GID] },
            env: BTreeMap::new(),
            caps,
            links: BTreeMap::new(),
            acl: None,
        }
    }

    /// Answers the next calls of `call` with `answers`, in order; after them the call
    /// behaves as before (healthy, or as set by [`ScriptedKvmHost::always`]).
    pub fn then(self, call: KvmCall, answers: impl IntoIterator<Item = Answer>) -> Self {
        self.lock().scripts.entry(call).or_default().queued.extend(answers);
        self
    }

    /// Answers every call of `call` (after any queued answers) with `answer`.
    pub fn always(self, call: KvmCall, answer: Answer) -> Self {
        self.lock().scripts.entry(call).or_default().then = Some(answer);
        self
    }

    /// Every call of `call` fails with `errno`.
    pub fn fail(self, call: KvmCall, errno: Errno) -> Self {
        self.always(call, Answer::Errno(errno))
    }

    /// Sets or replaces a file (`None` removes it).
    pub fn file(mut self, path: &str, contents: Option<&str>) -> Self {
        match contents {
            Some(c) => self.files.insert(path.to_owned(), c.to_owned()),
            None => self.files.remove(path),
        };
        self
    }

    /// Sets a directory listing.
    pub fn dir(mut self, path: &str, names: &[&str]) -> Self {
        self.dirs.insert(path.to_owned(), names.iter().map(|n| (*n).to_owned()).collect());
        self
    }

    /// Sets the device node `stat` reports.
    pub fn node(mut self, node: DeviceNode) -> Self {
        self.node = node;
        self
    }

    /// Sets who the process is.
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = identity;
        self
    }

    /// Adds a process holding `vms` KVM VMs (visible in `/proc/PID/fd`).
    pub fn vm_holder(mut self, pid: u32, command: &str, vms: u32) -> Self {
        let fds: Vec<String> = (0..vms + 3).map(|fd| fd.to_string()).collect();
        for fd in &fds {
            let target = if fd.parse::<u32>().unwrap_or(0) >= 3 { "anon_inode:kvm-vm" } else { "/dev/null" };
            self.links.insert(format!("/proc/{pid}/fd/{fd}"), target.to_owned());
        }
        self.dirs.insert(format!("/proc/{pid}/fd"), fds);
        self.files.insert(format!("/proc/{pid}/comm"), format!("{command}\n"));
        self.dirs.entry("/proc".to_owned()).or_default().push(pid.to_string());
        self
    }

    /// Gives the device a POSIX access ACL.
    pub fn acl(mut self, entries: Vec<AclEntry>) -> Self {
        self.acl = Some(entries);
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Sets what `KVM_CHECK_EXTENSION` answers for a capability (when not scripted).
    pub fn capability(mut self, cap: u32, value: i32) -> Self {
        self.caps.insert(cap, value);
        self
    }

    /// What was handed out and got back so far.
    pub fn account(&self) -> Account {
        self.lock().account.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn answer(&self, call: KvmCall) -> Answer {
        let mut st = self.lock();
        let script = st.scripts.entry(call).or_default();
        let a = script.queued.pop_front().or(script.then).unwrap_or(Answer::Healthy);
        st.account.calls.push((call, a));
        a
    }

    fn hand_out(&self, kind: FdKind) -> Fd {
        let mut st = self.lock();
        let fd = Fd(st.next_fd);
        st.next_fd += 1;
        st.open.insert(fd.0, kind);
        st.account.opened.push(fd);
        if kind == FdKind::Vm {
            st.account.vms_created += 1;
        }
        fd
    }

    fn is_open(&self, fd: Fd, kind: FdKind) -> bool {
        self.lock().open.get(&fd.0) == Some(&kind)
    }
}

/// EBADF: the logic passed an fd it does not hold.
const EBADF: Errno = 9;

impl KvmHost for ScriptedKvmHost {
    fn is_simulated(&self) -> bool {
        true
    }

    fn stat(&self, _path: &Path) -> Result<DeviceNode, Errno> {
        match self.answer(KvmCall::Stat) {
            Answer::Errno(e) | Answer::StepErrno(_, e) => Err(e),
            _ => Ok(self.node),
        }
    }

    fn open(&self, _path: &Path) -> Result<Fd, Errno> {
        match self.answer(KvmCall::Open) {
            Answer::Errno(e) | Answer::StepErrno(_, e) => Err(e),
            _ => Ok(self.hand_out(FdKind::System)),
        }
    }

    fn close(&self, fd: Fd) {
        let mut st = self.lock();
        match st.open.remove(&fd.0) {
            Some(kind) => {
                st.account.closed.push(fd);
                if kind == FdKind::Vm {
                    st.account.vms_destroyed += 1;
                }
            }
            None => st.account.bad_closes.push(fd),
        }
    }

    fn get_api_version(&self, kvm: Fd) -> Result<i32, Errno> {
        if !self.is_open(kvm, FdKind::System) {
            return Err(EBADF);
        }
        match self.answer(KvmCall::GetApiVersion) {
            Answer::Errno(e) | Answer::StepErrno(_, e) => Err(e),
            Answer::Value(v) => Ok(v as i32),
            Answer::Healthy => Ok(12),
        }
    }

    fn check_extension(&self, fd: Fd, cap: u32) -> Result<i32, Errno> {
        if !self.is_open(fd, FdKind::System) && !self.is_open(fd, FdKind::Vm) {
            return Err(EBADF);
        }
        match self.answer(KvmCall::CheckExtension) {
            Answer::Errno(e) | Answer::StepErrno(_, e) => Err(e),
            Answer::Value(v) => Ok(v as i32),
            Answer::Healthy => Ok(self.caps.get(&cap).copied().unwrap_or(1)),
        }
    }

    fn create_vm(&self, kvm: Fd, _vm_type: u64) -> Result<Fd, Errno> {
        if !self.is_open(kvm, FdKind::System) {
            return Err(EBADF);
        }
        match self.answer(KvmCall::CreateVm) {
            Answer::Errno(e) | Answer::StepErrno(_, e) => Err(e),
            _ => Ok(self.hand_out(FdKind::Vm)),
        }
    }

    fn create_vcpu(&self, vm: Fd, _id: u64) -> Result<Fd, Errno> {
        if !self.is_open(vm, FdKind::Vm) {
            return Err(EBADF);
        }
        match self.answer(KvmCall::CreateVcpu) {
            Answer::Errno(e) | Answer::StepErrno(_, e) => Err(e),
            _ => Ok(self.hand_out(FdKind::Vcpu)),
        }
    }

    fn run_guest(&self, kvm: Fd, vm: Fd, vcpu: Fd) -> Result<GuestExit, StepFailure> {
        if !(self.is_open(kvm, FdKind::System) && self.is_open(vm, FdKind::Vm) && self.is_open(vcpu, FdKind::Vcpu)) {
            return Err(StepFailure { operation: Operation::Run, errno: EBADF });
        }
        match self.answer(KvmCall::RunGuest) {
            Answer::Errno(errno) => Err(StepFailure { operation: Operation::Run, errno }),
            Answer::StepErrno(operation, errno) => Err(StepFailure { operation, errno }),
            Answer::Value(v) => Ok(match u32::try_from(v) {
                Ok(kb::KVM_EXIT_HLT) => GuestExit::Hlt,
                Ok(kb::KVM_EXIT_MMIO) => GuestExit::Mmio { address: 0x1000_0000 },
                Ok(r) => GuestExit::Other(r),
                Err(_) => GuestExit::Other(u32::MAX),
            }),
            Answer::Healthy if cfg!(target_arch = "x86_64") => Ok(GuestExit::Hlt),
            Answer::Healthy => Ok(GuestExit::Mmio { address: 0x1000_0000 }),
        }
    }

    fn rlimit(&self, resource: Rlimit) -> Result<(u64, u64), Errno> {
        match self.answer(KvmCall::Rlimit) {
            Answer::Errno(e) | Answer::StepErrno(_, e) => Err(e),
            Answer::Value(v) => Ok((v as u64, v as u64)),
            Answer::Healthy => Ok(match resource {
                Rlimit::Nofile => (1024, 524_288),
                Rlimit::Memlock => (8 << 20, 8 << 20),
            }),
        }
    }

    fn read_file(&self, path: &str) -> Option<String> {
        self.files.get(path).cloned()
    }

    fn list_dir(&self, path: &str) -> Result<Vec<String>, Errno> {
        self.dirs.get(path).cloned().ok_or(2)
    }

    fn read_link(&self, path: &str) -> Option<String> {
        self.links.get(path).cloned()
    }

    fn access_acl(&self, _path: &Path) -> Result<Option<Vec<AclEntry>>, Errno> {
        Ok(self.acl.clone())
    }

    fn identity(&self) -> Identity {
        self.identity.clone()
    }

    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
}
