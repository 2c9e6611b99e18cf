// Hostile probes for the sandbox battery (sandbox/battery_linux_test.go), Node.
// Each probe_NAME(h) attempts one behaviour and returns what happened (or a
// Promise of it); h holds facts about the host. Errors are errno names
// ("ENOENT"); "ok" means the attempt succeeded.
//
// Node has no FFI and no raw system call: where a behaviour needs one, the
// closest real attempt is a native addon, which sb_native tries (a shared
// object copied to /tmp, the only writable place, then process.dlopen).
var fs = require('fs');
var net = require('net');
var child_process = require('child_process');

function sb_err(e) { return (e && e.code) || String(e); }
function sb_try(f) {
  try {
    var r = f();
    return r === undefined || r === null || r === true ? 'ok' : r;
  } catch (e) {
    return sb_err(e);
  }
}
function sb_note(s) { fs.writeSync(2, s + '\n'); }
function sb_libc_path() {
  for (var l of fs.readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    var f = l.trim().split(/\s+/);
    if (f.length >= 6 && f[5].indexOf('/libc.so') >= 0) return f[5];
  }
  return '';
}
function sb_native(what) {
  var r = { want: what + ' (needs native code: Node has no FFI)' };
  r.copy = sb_try(function () { fs.copyFileSync(sb_libc_path(), '/tmp/addon.node'); });
  try {
    process.dlopen({ exports: {} }, '/tmp/addon.node');
    r.dlopen = 'ok';
  } catch (e) {
    r.dlopen = e.message || String(e);
  }
  return r;
}
function sb_catch(f) {
  try { f(); return 'ok'; } catch (e) { return e.code ? e.code : (e.message || String(e)); }
}
function sb_read(p) {
  if (fs.statSync(p).isDirectory()) return 'listed: ' + fs.readdirSync(p).sort().join(',');
  return 'read ' + fs.readFileSync(p).length + ' bytes';
}

function probe_read_host(h) {
  var r = {};
  for (var p of h.read) r[p] = sb_try(sb_read.bind(null, p));
  return r;
}

function probe_write_host(h) {
  var r = {};
  for (var p of h.create) r['create ' + p] = sb_try(fs.writeFileSync.bind(fs, p, 'pwned\n'));
  for (var p of h.append.concat([process.execPath, sb_libc_path()])) r['append ' + p] = sb_try(fs.appendFileSync.bind(fs, p, 'pwned\n'));
  r['mkdir /usr/sandbond-pwned'] = sb_try(fs.mkdirSync.bind(fs, '/usr/sandbond-pwned'));
  r['chmod ' + process.execPath] = sb_try(fs.chmodSync.bind(fs, process.execPath, 0o777));
  r['unlink ' + process.execPath] = sb_try(fs.unlinkSync.bind(fs, process.execPath));
  return r;
}

function probe_tmp_write(h) {
  fs.writeFileSync('/tmp/' + h.marker, 'from the first task');
  return fs.readdirSync('/tmp').sort();
}

function probe_tmp_read(h) {
  return { marker: sb_try(sb_read.bind(null, '/tmp/' + h.marker)), tmp: fs.readdirSync('/tmp').sort() };
}

function sb_connect(opts) {
  return new Promise(function (resolve) {
    var s = net.connect(opts);
    var t = setTimeout(function () { s.destroy(); resolve('timeout'); }, 3000);
    s.on('connect', function () { clearTimeout(t); s.end('hello from the sandbox\n'); resolve('ok'); });
    s.on('error', function (e) { clearTimeout(t); resolve(sb_err(e)); });
  });
}

async function probe_tcp(h) {
  return { '127.0.0.1': await sb_connect({ host: '127.0.0.1', port: h.port }),
           '::1': h.port6 ? await sb_connect({ host: '::1', port: h.port6 }) : 'no host listener' };
}

async function probe_unix_abstract(h) { return { abstract: await sb_connect({ path: '\0' + h.abstract }) }; }

async function probe_unix_path(h) { return { path: await sb_connect({ path: h.sockpath }) }; }

function probe_vsock(h) { return sb_native('socket(AF_VSOCK)'); }

function probe_fork_bomb(h) {
  // every child runs the same loop: node -e CODE CODE
  var code = 'var c=require("child_process"),s=process.argv[1];for(;;){try{c.spawn(process.execPath,["-e",s,s],{stdio:"ignore"})}catch(e){}}';
  for (;;) {
    try { child_process.spawn(process.execPath, ['-e', code, code], { stdio: 'ignore' }); } catch (e) { }
  }
}

function probe_memory_bomb(h) {
  var keep = [];
  for (;;) keep.push(Buffer.alloc(1 << 20, 1));
}

function probe_cpu_spin(h) { for (;;) { } }

function probe_output_flood(h) {
  var chunk = Buffer.alloc(1 << 20, 65);
  for (var i = 0; i < 256; i++) {
    for (var off = 0; off < chunk.length;) {
      try { off += fs.writeSync(1, chunk, off); } catch (e) { if (e.code !== 'EAGAIN') throw e; }
    }
  }
  return 'flooded 256 MiB';
}

function probe_fill_tmp(h) {
  var chunk = Buffer.alloc(1 << 20, 120);
  for (var i = 0; ; i++) {
    try {
      fs.writeFileSync('/tmp/fill' + i, chunk);
    } catch (e) {
      var total = 0;
      for (var n of fs.readdirSync('/tmp')) if (n.startsWith('fill')) total += fs.statSync('/tmp/' + n).size;
      return { errno: sb_err(e), bytes: total };
    }
  }
}

function probe_fd_exhaustion(h) {
  var fds = [], r;
  try {
    for (;;) fds.push(fs.openSync('/dev/null', 'r'));
  } catch (e) {
    r = { errno: sb_err(e), opened: fds.length, highest: fds.length ? Math.max.apply(null, fds) : -1 };
  }
  for (var fd of fds) fs.closeSync(fd);
  return r;
}

function probe_ptrace(h) { return sb_native('ptrace(PTRACE_TRACEME)'); }
function probe_mount(h) { return sb_native('mount'); }
function probe_userns_mount(h) { return sb_native('unshare(CLONE_NEWUSER|CLONE_NEWNS)'); }
function probe_clone3_ns(h) { return sb_native('clone3 with namespace flags'); }
function probe_add_key(h) { return sb_native('add_key'); }
function probe_bpf(h) { return sb_native('bpf'); }
function probe_perf_event_open(h) { return sb_native('perf_event_open'); }
function probe_io_uring(h) { return sb_native('io_uring_setup'); }
function probe_userfaultfd(h) { return sb_native('userfaultfd'); }
function probe_personality(h) { return sb_native('personality'); }

function probe_setuid(h) {
  var found = [], n = 0, todo = ['/'];
  while (todo.length) {
    var d = todo.pop(), ents;
    try { ents = fs.readdirSync(d); } catch (e) { continue; }
    for (var e of ents) {
      if (d === '/' && (e === 'proc' || e === 'sys' || e === 'dev')) continue;
      var p = (d === '/' ? '' : d) + '/' + e, st;
      try { st = fs.lstatSync(p); } catch (x) { continue; }
      n++;
      if (st.isDirectory()) { todo.push(p); continue; }
      if (st.mode & 0o6000) found.push(p);
    }
  }
  var m = /NoNewPrivs:\s*(\d)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return { setuid: found, scanned: n, no_new_privs: m ? m[1] : '?' };
}

function probe_kill(h) {
  var r = { 'kill -1': sb_catch(function () { process.kill(-1, 'SIGKILL'); }), ppid: process.ppid };
  if (process.ppid > 0) r['kill ppid'] = sb_catch(function () { process.kill(process.ppid, 'SIGKILL'); });
  for (var p of h.hostpids) r['kill ' + p] = sb_catch(process.kill.bind(process, p, 'SIGKILL'));
  return r;
}

function probe_proc(h) {
  var pids = fs.readdirSync('/proc').filter(function (d) { return /^\d+$/.test(d); }).map(Number).sort(function (a, b) { return a - b; });
  var env = {}, cmd = {};
  for (var p of pids) {
    env[p] = sb_try(fs.readFileSync.bind(fs, '/proc/' + p + '/environ', 'utf8'));
    cmd[p] = sb_try(fs.readFileSync.bind(fs, '/proc/' + p + '/cmdline', 'utf8'));
  }
  return { pids: pids, environ: env, cmdline: cmd,
           '/proc/1/root': sb_try(function () { return fs.readdirSync('/proc/1/root').sort(); }),
           '/proc/1/root/etc/shadow': sb_try(sb_read.bind(null, '/proc/1/root/etc/shadow')) };
}

function probe_fds(h) {
  var r = {};
  for (var fd of fs.readdirSync('/proc/self/fd')) r[fd] = sb_try(fs.readlinkSync.bind(fs, '/proc/self/fd/' + fd));
  return { fds: r, canary: sb_try(sb_read.bind(null, h.leakpath)) };
}

function probe_symlink_plant(h) {
  return { '/tmp/x -> /etc/shadow': sb_try(fs.symlinkSync.bind(fs, '/etc/shadow', '/tmp/x')),
           '/tmp/y -> /proc/1/root/etc/shadow': sb_try(fs.symlinkSync.bind(fs, '/proc/1/root/etc/shadow', '/tmp/y')),
           '/tmp/hard -> /etc/ld.so.cache': sb_try(fs.linkSync.bind(fs, '/etc/ld.so.cache', '/tmp/hard')),
           'follow inside': sb_try(sb_read.bind(null, '/tmp/x')),
           planted: '/tmp/x' };
}

function probe_devices(h) {
  var nodes = {};
  for (var n of fs.readdirSync('/dev')) {
    var st = fs.lstatSync('/dev/' + n);
    if (st.isCharacterDevice() || st.isBlockDevice()) nodes['/dev/' + n] = ((st.rdev >> 8) & 0xfff) + ',' + ((st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00));
  }
  return { nodes: nodes, mknod: sb_native('mknod (Node has no mknod)'),
           'open /dev/mem': sb_try(sb_read.bind(null, '/dev/mem')),
           'open /dev/kmsg': sb_try(sb_read.bind(null, '/dev/kmsg')) };
}

function probe_env(h) {
  return { environ: Object.assign({}, process.env), '/proc/self/environ': fs.readFileSync('/proc/self/environ', 'utf8') };
}

function probe_tiocsti(h) {
  return { ioctl: sb_native('ioctl(TIOCSTI) (Node has no ioctl)'), '/dev/tty': sb_try(fs.openSync.bind(fs, '/dev/tty', 'r+')),
           isatty: [0, 1, 2].map(function (fd) { return require('tty').isatty(fd); }) };
}

function probe_proc_self_exe(h) {
  var real = fs.realpathSync('/proc/self/exe');
  function o(p, fl) { fs.closeSync(fs.openSync(p, fl)); }
  return { '/proc/self/exe O_WRONLY': sb_try(o.bind(null, '/proc/self/exe', fs.constants.O_WRONLY)),
           '/proc/self/exe O_RDWR|O_TRUNC': sb_try(o.bind(null, '/proc/self/exe', fs.constants.O_RDWR | fs.constants.O_TRUNC)),
           [real + ' O_WRONLY']: sb_try(o.bind(null, real, fs.constants.O_WRONLY)),
           exe: real };
}

function probe_syscall32(h) { return sb_native('int 0x80'); }

function probe_escape(h) {
  var b = {};
  for (var m of ['fs', 'spawn_sync', 'os', 'uv', 'natives']) {
    b[m] = sb_try(function () { var x = process.binding(m); return 'available (' + Object.keys(x).length + ' keys)'; });
  }
  return { 'process.binding': b, addon: sb_native('a native addon'),
           'spawn a shell': sb_try(function () { return String(child_process.spawnSync('/bin/sh', ['-c', 'id']).error || 'ran'); }) };
}

function probe_x32(h) { return sb_native('an x32 ABI syscall'); }

function probe_child_syscall(h) {
  // a child node has no raw system call either: it tries an addon
  var r = child_process.spawnSync(process.execPath, ['-e', 'var fs=require("fs");fs.copyFileSync(process.argv[1],"/tmp/c.node");' +
    'try{process.dlopen({exports:{}},"/tmp/c.node");console.log("loaded")}catch(e){console.log(e.message)}', sb_libc_path()]);
  return { dlopen: String(r.stdout).trim(), status: r.status };
}
