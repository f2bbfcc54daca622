#!/bin/bash
# images/build-guest.sh — build a minimal, reproducible poolvm guest:
# an uncompressed kernel (vmlinux, boots fast through PVH) and a busybox
# initramfs whose /init runs one command and powers the guest off.
set -euo pipefail

prog=${0##*/}

usage() {
	cat <<EOF
usage: $prog --out DIR [options]

Builds DIR/vmlinux and DIR/NAME.cpio.gz, a guest that boots, prints
"poolvm-guest: booted", loads the requested modules, runs one command,
prints "poolvm-guest: exit=<rc>" and powers off.

options:
  --out DIR          where to write vmlinux and NAME.cpio.gz (created if
                     missing). Required.
  --kernel FILE      the kernel to boot: a bzImage such as
                     /boot/vmlinuz-6.1.0-56-amd64 (its compressed ELF payload is
                     unpacked to DIR/vmlinux) or an ELF vmlinux (copied).
                     Default: the newest /boot/vmlinuz-*. DIR/vmlinux is reused
                     when it is newer than FILE and was made from FILE.
  --add SRC[:DEST]   copy SRC (a file or a directory) into the image at DEST,
                     an absolute path; a DEST ending in / keeps SRC's name;
                     without :DEST the file goes to /bin/. Executable bits are
                     kept. May be repeated; later entries win, and --add may
                     replace anything generated, /init included. Programs
                     added this way must be static: the image has no shared
                     libraries unless --add-dynamic or --add-lib bring them.
  --add-dynamic SRC[:DEST]
                     like --add, for a dynamically linked program: also copies
                     its interpreter (/lib64/ld-linux-x86-64.so.2) and every
                     shared library it needs, as this host's loader resolves
                     them (ldd), glibc included. A library found under /lib,
                     /lib64, /usr/lib or /usr/lib64 keeps its path in the
                     image; one found elsewhere (a build tree, an rpath) goes
                     to /usr/lib/x86_64-linux-gnu/ under the name the program
                     asks for. A library ldd cannot find must come with
                     --add-lib (a --add-lib of the same name always wins), or
                     the build fails. May be repeated.
  --add-lib LIB[:DIR]
                     a shared library into the directory DIR of the image
                     (default /usr/lib/x86_64-linux-gnu/, searched by the
                     guest's loader with no LD_LIBRARY_PATH and no
                     ld.so.cache), named by its SONAME, plus the libraries it
                     needs (as --add-dynamic). Programs asking for that name
                     get this file. E.g. poolvm's CUDA driver shim, where
                     NVIDIA's package puts the real one:
                       --add-lib BUILD/guest/cuda/libcuda.so.1
  --add-secret SRC[:DEST]
                     copy a secret file (a pod's shared secret) to DEST
                     (default /etc/poolvm/gpu.secret) with mode 0600, as the
                     secret's readers require. The archive is then written
                     with mode 0600 too: it holds the secret.
  --run CMD          shell command(s) that /init runs (with busybox sh) once
                     the guest is up; its exit status is printed as
                     "poolvm-guest: exit=<rc>". Default: print a line and stop.
                     A kernel command line argument pvm_run="CMD" overrides it
                     at boot, so one image can serve many tests.
  --modules 'M ...'  kernel modules to load at boot, e.g. 'virtio_pci
                     virtio_blk'. Taken from /lib/modules/<kernel version>/
                     with everything they depend on (modules.dep), unpacked if
                     compressed, and loaded in dependency order. Built-in
                     modules are skipped with a note.
  --name NAME        initramfs file name without suffix (default: initramfs)
  --busybox FILE     static busybox to install (default: busybox on PATH,
                     from the busybox-static package)
  -h, --help         this text

environment:
  SOURCE_DATE_EPOCH  mtime of every file in the archive (default 0). With the
                     same inputs, two builds give byte-identical archives.

example:
  $prog --out out/guest --add build/guest/pvm-memtest:/bin/ \\
      --run 'pvm-memtest seq --size 300'
  qemu-system-x86_64 -machine pc -accel tcg -cpu max,-avx2 -m 512M \\
      -kernel out/guest/vmlinux -initrd out/guest/initramfs.cpio.gz \\
      -append 'console=ttyS0 quiet' -display none -serial stdio -nodefaults

  # an unmodified CUDA program with poolvm's libcuda.so.1 (docs/gpu.md)
  $prog --out out/cuda --name cuda --modules 'virtio_pci virtio_net' \\
      --add-dynamic build/tests/gpu/cuda_client --add-lib build/guest/cuda/libcuda.so.1 \\
      --add-secret /etc/poolvm/gpu.secret
EOF
}

die() {
	echo "$prog: $*" >&2
	exit 1
}

note() {
	echo "$prog: $*" >&2
}

out_dir=
kernel=
name=initramfs
run_cmd='echo "poolvm-guest: no --run command was built in; powering off"'
modules=
busybox=
adds=()

need_arg() {
	[ "$#" -ge 2 ] || die "$1 needs an argument (see --help)"
}

while [ "$#" -gt 0 ]; do
	case "$1" in
	--out) need_arg "$@"; out_dir=$2; shift 2 ;;
	--out=*) out_dir=${1#*=}; shift ;;
	--kernel) need_arg "$@"; kernel=$2; shift 2 ;;
	--kernel=*) kernel=${1#*=}; shift ;;
	--add) need_arg "$@"; adds+=("file|$2"); shift 2 ;;
	--add=*) adds+=("file|${1#*=}"); shift ;;
	--add-dynamic) need_arg "$@"; adds+=("dynamic|$2"); shift 2 ;;
	--add-dynamic=*) adds+=("dynamic|${1#*=}"); shift ;;
	--add-lib) need_arg "$@"; adds+=("lib|$2"); shift 2 ;;
	--add-lib=*) adds+=("lib|${1#*=}"); shift ;;
	--add-secret) need_arg "$@"; adds+=("secret|$2"); shift 2 ;;
	--add-secret=*) adds+=("secret|${1#*=}"); shift ;;
	--run) need_arg "$@"; run_cmd=$2; shift 2 ;;
	--run=*) run_cmd=${1#*=}; shift ;;
	--modules) need_arg "$@"; modules=$2; shift 2 ;;
	--modules=*) modules=${1#*=}; shift ;;
	--name) need_arg "$@"; name=$2; shift 2 ;;
	--name=*) name=${1#*=}; shift ;;
	--busybox) need_arg "$@"; busybox=$2; shift 2 ;;
	--busybox=*) busybox=${1#*=}; shift ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument '$1'" ;;
	esac
done

[ -n "$out_dir" ] || { usage >&2; die "--out DIR is required"; }
case "$name" in
''|*/*) die "--name '$name' must be a plain file name" ;;
esac
epoch=${SOURCE_DATE_EPOCH:-0}
case "$epoch" in
''|*[!0-9]*) die "SOURCE_DATE_EPOCH '$epoch' is not a number of seconds" ;;
esac

for tool in cpio gzip find sort touch; do
	command -v "$tool" >/dev/null || die "$tool is missing (apt-get install $tool)"
done

# --- kernel ------------------------------------------------------------------

if [ -z "$kernel" ]; then
	kernel=$(find /boot -maxdepth 1 -name 'vmlinuz-*' 2>/dev/null | sort -V | tail -n 1)
	[ -n "$kernel" ] || die "no /boot/vmlinuz-* found: install a guest kernel with" \
		"'apt-get install linux-image-amd64', or pass --kernel FILE"
fi
[ -f "$kernel" ] || die "kernel '$kernel' does not exist (apt-get install linux-image-amd64?)"
[ -r "$kernel" ] || die "kernel '$kernel' is not readable (run as root or copy it)"

is_elf() {
	[ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]
}

# The bzImage carries the ELF kernel as one compressed stream somewhere after
# its setup code and decompressor. Try each place a known magic number occurs
# until one unpacks to an ELF file.
extract_vmlinux() {
	local src=$1 dst=$2 magic tool offset
	local -a decoders=(
		'\xfd7zXZ\x00|xz -dc --single-stream'
		'\x28\xb5\x2f\xfd|zstd -dcq'
		'\x1f\x8b\x08|gzip -dc'
	)
	if is_elf "$src"; then
		cp "$src" "$dst"
		return 0
	fi
	for entry in "${decoders[@]}"; do
		magic=${entry%%|*}
		tool=${entry#*|}
		command -v "${tool%% *}" >/dev/null || continue
		for offset in $(LC_ALL=C grep -obUaP "$magic" "$src" | cut -d: -f1 | head -n 16); do
			tail -c "+$((offset + 1))" "$src" | $tool >"$dst" 2>/dev/null || true
			if [ -s "$dst" ] && is_elf "$dst"; then
				return 0
			fi
		done
	done
	rm -f "$dst"
	return 1
}

mkdir -p "$out_dir"
vmlinux=$out_dir/vmlinux
stamp=$out_dir/vmlinux.source
kernel_abs=$(readlink -f "$kernel")
if [ "$kernel_abs" = "$(readlink -f "$vmlinux")" ]; then
	note "using $vmlinux in place"
elif [ -f "$vmlinux" ] && [ "$vmlinux" -nt "$kernel_abs" ] &&
   [ "$(cat "$stamp" 2>/dev/null)" = "$kernel_abs" ]; then
	note "reusing $vmlinux (newer than $kernel_abs)"
else
	note "extracting $vmlinux from $kernel_abs"
	extract_vmlinux "$kernel_abs" "$vmlinux.tmp" ||
		die "found no xz, zstd or gzip payload that unpacks to an ELF kernel in $kernel_abs"
	mv "$vmlinux.tmp" "$vmlinux"
	echo "$kernel_abs" >"$stamp"
fi

# The kernel release names its module tree. A bzImage says it in its setup
# header (a pointer at 0x20e to a string, offset by 0x200); else trust the
# file name.
kernel_release() {
	local src=$1 ptr rel=
	if [ "$(tail -c +515 "$src" | head -c 4)" = HdrS ]; then
		ptr=$(od -An -tu2 -j 526 -N 2 "$src" | tr -d ' ')
		if [ -n "$ptr" ] && [ "$ptr" -gt 0 ]; then
			rel=$(tail -c "+$((ptr + 0x200 + 1))" "$src" | head -c 256 |
				tr '\0' '\n' | head -n 1 | cut -d' ' -f1)
		fi
	fi
	if [ -z "$rel" ]; then
		case "${src##*/}" in
		vmlinuz-*|vmlinux-*) rel=${src##*/vmlinu?-} ;;
		esac
	fi
	echo "$rel"
}

# --- staging tree --------------------------------------------------------------

stage=$(mktemp -d "${TMPDIR:-/tmp}/poolvm-guest.XXXXXX")
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,mnt,etc/poolvm,lib/modules}

if [ -z "$busybox" ]; then
	busybox=$(command -v busybox || true)
	[ -n "$busybox" ] || die "busybox is missing: apt-get install busybox-static"
fi
busybox=$(readlink -f "$busybox")
if command -v readelf >/dev/null && readelf -l "$busybox" 2>/dev/null | grep -q INTERP; then
	die "$busybox is dynamically linked: apt-get install busybox-static, or --busybox FILE"
fi
cp "$busybox" "$stage/bin/busybox"
chmod 755 "$stage/bin/busybox"
"$busybox" --list-full | while read -r applet; do
	case "$applet" in
	''|bin/busybox|linuxrc|*/..*|/*) continue ;;
	esac
	[ -e "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet"
done

# Modules: resolve names through modules.dep, load order is depth first.
module_list=$stage/etc/poolvm/modules
: >"$module_list"
if [ -n "$modules" ]; then
	release=$(kernel_release "$kernel_abs")
	moddir=/lib/modules/$release
	if [ -z "$release" ] || [ ! -f "$moddir/modules.dep" ]; then
		die "no $moddir/modules.dep for kernel '$release': install the modules" \
			"of that kernel (linux-image-$release) or drop --modules"
	fi
	declare -A mod_path=() mod_deps=() mod_done=()
	while IFS= read -r line; do
		path=${line%%:*}
		base=${path##*/}
		base=${base%%.ko*}
		base=${base//-/_}
		mod_path[$base]=$path
		mod_deps[$base]=${line#*:}
	done <"$moddir/modules.dep"

	add_module() {
		local mod=$1 dep path dest
		[ -z "${mod_done[$mod]:-}" ] || return 0
		mod_done[$mod]=1
		path=${mod_path[$mod]}
		for dep in ${mod_deps[$mod]}; do
			dep=${dep##*/}
			dep=${dep%%.ko*}
			add_module "${dep//-/_}"
		done
		dest=$stage/lib/modules/$release/${path%%.ko*}.ko
		mkdir -p "${dest%/*}"
		case "$path" in
		*.ko) cp "$moddir/$path" "$dest" ;;
		*.ko.xz) xz -dc "$moddir/$path" >"$dest" ;;
		*.ko.zst) zstd -dcq "$moddir/$path" >"$dest" ;;
		*.ko.gz) gzip -dc "$moddir/$path" >"$dest" ;;
		*) die "cannot unpack module $moddir/$path" ;;
		esac
		echo "/lib/modules/$release/${path%%.ko*}.ko" >>"$module_list"
	}

	for mod in $modules; do
		mod=${mod%%.ko*}
		mod=${mod//-/_}
		if [ -n "${mod_path[$mod]:-}" ]; then
			add_module "$mod"
		elif grep -q "/${mod}\.ko" "$moddir/modules.builtin" 2>/dev/null ||
		     grep -q "/${mod//_/-}\.ko" "$moddir/modules.builtin" 2>/dev/null; then
			note "module $mod is built into $release; nothing to load"
		else
			die "module $mod is not in $moddir/modules.dep"
		fi
	done
fi

{
	echo '#!/bin/sh'
	echo '# The command given to build-guest.sh --run.'
	printf '%s\n' "$run_cmd"
} >"$stage/etc/poolvm/run.sh"

cat >"$stage/init" <<'EOF'
#!/bin/busybox sh
# /init, generated by poolvm's images/build-guest.sh.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root TERM=${TERM:-vt100}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
echo "poolvm-guest: booted"
while read -r module; do
	insmod "$module" || echo "poolvm-guest: insmod $module failed"
done </etc/poolvm/modules
# pvm_run="..." on the kernel command line reaches us as an environment
# variable and replaces the command built into the image.
if [ -n "${pvm_run:-}" ]; then
	sh -c "$pvm_run"
else
	sh /etc/poolvm/run.sh
fi
rc=$?
echo "poolvm-guest: exit=$rc"
poweroff -f
echo "poolvm-guest: poweroff failed; halting"
while :; do sleep 3600; done
EOF
chmod 755 "$stage/init"

# --- added files ----------------------------------------------------------------

guest_libdir=/usr/lib/x86_64-linux-gnu
secrets=()
declare -A lib_given=() lib_copied=()

# split_spec SPEC DEFAULT-DEST - sets src and dest from SRC[:DEST].
split_spec() {
	if [[ "$1" == *:* ]]; then
		src=${1%:*}
		dest=${1##*:}
	else
		src=$1
		dest=$2
	fi
	[ -e "$src" ] || die "$opt $1: '$src' does not exist"
	case "$dest" in
	/*) ;;
	*) die "$opt $1: DEST '$dest' must be an absolute path in the guest" ;;
	esac
	[[ "$dest" != */ ]] || dest=$dest${src##*/}
}

put_file() {
	mkdir -p "$stage$(dirname "$2")"
	rm -rf "$stage$2"
	cp -RL "$1" "$stage$2"
}

is_dynamic() {
	readelf -l "$1" 2>/dev/null | grep -q INTERP
}

soname_of() {
	local so
	so=$(readelf -d "$1" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p' | head -n 1)
	echo "${so:-${1##*/}}"
}

# copy_needed FILE - the interpreter and the shared libraries FILE needs
# (ldd lists them all, recursively), where the guest's loader looks.
copy_needed() {
	local file=$1 line name path out missing=
	out=$(LD_PRELOAD='' ldd "$file" 2>&1) ||
		die "$opt $file: ldd cannot list its libraries: $out"
	while IFS= read -r line; do
		line=${line#"${line%%[![:space:]]*}"}
		case "$line" in
		*' => not found'*)
			name=${line%% =>*}
			[ -n "${lib_given[$name]:-}" ] || missing="$missing $name"
			continue ;;
		*' => '*)
			name=${line%% =>*}
			path=${line#*=> }
			path=${path% (0x*)} ;;
		/*)
			name=
			path=${line% (0x*)} ;;
		*) continue ;;          # linux-vdso.so.1: the kernel's
		esac
		[ -n "$path" ] || continue
		# A library --add-lib supplies is not taken from the host.
		[ -z "$name" ] || [ -z "${lib_given[$name]:-}" ] || continue
		case "$path" in
		/lib/*|/lib64/*|/usr/lib/*|/usr/lib64/*) dest=$path ;;
		*) dest=$guest_libdir/${name:-${path##*/}}
		   note "$opt $file: $path goes to $dest in the image" ;;
		esac
		[ -z "${lib_copied[$dest]:-}" ] || continue
		lib_copied[$dest]=1
		[ -f "$path" ] || die "$opt $file: ldd names $path, which does not exist"
		put_file "$path" "$dest"
	done <<<"$out"
	[ -z "$missing" ] || die "$opt $file: this host's loader cannot find$missing;" \
		"supply them with --add-lib LIB"
}

if [ "${#adds[@]}" -gt 0 ] && printf '%s\n' "${adds[@]}" | grep -qE '^(dynamic|lib)\|'; then
	for tool in ldd readelf; do
		command -v "$tool" >/dev/null ||
			die "$tool is missing (apt-get install libc-bin binutils)"
	done
	# Names --add-lib supplies, wherever they appear on the command line.
	for entry in "${adds[@]}"; do
		[ "${entry%%|*}" = lib ] || continue
		spec=${entry#*|}
		[ -f "${spec%%:*}" ] || die "--add-lib $spec: '${spec%%:*}' is not a file"
		lib_given[$(soname_of "${spec%%:*}")]=1
	done
fi

for entry in "${adds[@]}"; do
	kind=${entry%%|*}
	spec=${entry#*|}
	opt=--add
	case "$kind" in
	file)
		split_spec "$spec" /bin/
		if [ -f "$src" ] && command -v readelf >/dev/null && is_dynamic "$src"; then
			note "warning: $src is dynamically linked; add it with --add-dynamic" \
				"to bring its shared libraries"
		fi
		put_file "$src" "$dest" ;;
	dynamic)
		opt=--add-dynamic
		split_spec "$spec" /bin/
		[ -f "$src" ] || die "$opt $spec: '$src' is not a file"
		put_file "$src" "$dest"
		if is_dynamic "$src"; then
			copy_needed "$src"
		else
			note "$opt $spec: $src is not a dynamically linked program; no libraries to add"
		fi ;;
	lib)
		opt=--add-lib
		# DIR, not a file name: the library is named by its SONAME there.
		src=${spec%%:*}
		dir=$guest_libdir
		[[ "$spec" != *:* ]] || dir=${spec#*:}
		case "$dir" in
		/*) ;;
		*) die "$opt $spec: DIR '$dir' must be an absolute path in the guest" ;;
		esac
		dest=${dir%/}/$(soname_of "$src")
		lib_copied[$dest]=1
		put_file "$src" "$dest"
		copy_needed "$src" ;;
	secret)
		opt=--add-secret
		split_spec "$spec" /etc/poolvm/gpu.secret
		[ -f "$src" ] || die "$opt $spec: '$src' is not a file"
		put_file "$src" "$dest"
		secrets+=("$dest") ;;
	esac
done

# --- normalise and pack ---------------------------------------------------------

# Permissions independent of umask and source: 755 for directories and for
# anything executable, 644 for the rest. Then one mtime for everything.
find "$stage" -type d -exec chmod 755 {} +
find "$stage" -type f -perm /111 -exec chmod 755 {} +
find "$stage" -type f ! -perm /111 -exec chmod 644 {} +
for secret in "${secrets[@]}"; do
	chmod 600 "$stage$secret"
done
find "$stage" -exec touch -h -d "@$epoch" {} +

# One newc record, written by hand: used for /dev/console, a device node that
# an unprivileged builder cannot create but the kernel needs before /init
# runs (it opens /dev/console for init's stdin/stdout/stderr).
newc_record() {
	local record_name=$1 mode=$2 rmajor=$3 rminor=$4 ino=$5
	local namesize=$((${#record_name} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		"$ino" "$mode" 0 0 1 "$epoch" 0 0 0 "$rmajor" "$rminor" "$namesize" 0
	printf '%s\0' "$record_name"
	head -c $(((4 - (110 + namesize) % 4) % 4)) /dev/zero
}

archive=$out_dir/$name.cpio.gz
{
	(cd "$stage" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
		cpio -o -H newc --reproducible -R 0:0 --quiet)
	# A second archive appended to the first; the kernel unpacks both.
	newc_record dev/console $((8#020600)) 5 1 1
	newc_record 'TRAILER!!!' 0 0 0 0
} | gzip -n -9 >"$archive.tmp"
[ "${#secrets[@]}" = 0 ] || chmod 600 "$archive.tmp"
mv "$archive.tmp" "$archive"

sum=$(sha256sum "$archive" | cut -d' ' -f1)
note "wrote $vmlinux and $archive (sha256 $sum)"
