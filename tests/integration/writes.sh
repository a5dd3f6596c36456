# Writes that never leave a broken file, for every command that writes (see WRITERS below):
#  - the output is written to a temporary file in the destination directory, fsynced, and
#    renamed into place (checked with strace when it is installed), never opened in place;
#  - a write failure (a file-size limit, `ulimit -f`) exits 1 with a short message naming the
#    output, leaves no output and no temporary, and keeps an existing output intact;
#  - SIGINT and SIGTERM in the middle of a write remove the temporary and kill the process
#    by that signal;
#  - no input is ever written over: the model file, a file next to it, the tokenizer, and the
#    mapped weights of a Hugging Face directory (the last is guarded in core/out_file.c for
#    every command).
. tests/integration/lib.sh
M21=$DATA/tinystories-llama-21m
S260=$DATA/stories260K
OUT=$TMP/out
mkdir -p "$OUT"

# --- the commands that write. To cover a new one, add write_NAME MODEL OUTPUT [extra args]:
# a quiet run of minnow, prefixed by $EXEC $TRACE, that reads MODEL and writes the file OUTPUT
# (on the 21M model it must take long enough to be interrupted), and list NAME in WRITERS.
EXEC= TRACE=
write_convert() {
    model=$1 out=$2
    shift 2
    $EXEC $TRACE "$MINNOW" convert "$model" -o "$out" --type f32 -q "$@"
}
write_quantize() {
    model=$1 out=$2
    shift 2
    $EXEC $TRACE "$MINNOW" quantize "$model" -o "$out" -t q8_0 -q "$@"
}
WRITERS="convert quantize"

# a write under a 1000-block file-size limit
limited_write() { (ulimit -f 1000 && "write_$1" "$M21" "$OUT/x.out"); }

# only_files DIR NAME...: DIR holds exactly these names (no temporaries, no partial output)
only_files() {
    dir=$1
    shift
    want=$(printf '%s\n' "$@" | sort | paste -sd' ' -)
    have=$(ls -A "$dir" | sort | paste -sd' ' -)
    [ "$have" = "$want" ] || fail "$dir holds '$have', expected '$want'"
}

# interrupt SIGNAL WRITER: sends SIGNAL as soon as the temporary appears; the process must die
# of it and leave nothing
interrupt() {
    sig=$1 w=$2
    rm -rf "$OUT" && mkdir -p "$OUT"
    # exec, so that $! is minnow itself and not a subshell running the function
    (EXEC=exec && "write_$w" "$M21" "$OUT/x.out") &
    pid=$!
    tries=0
    while [ -z "$(ls -A "$OUT")" ] && [ $tries -lt 4000 ]; do
        sleep 0.005
        tries=$((tries + 1))
    done
    kill -"$sig" $pid 2>/dev/null || true
    set +e
    wait $pid
    status=$?
    set -e
    [ -e "$OUT/x.out" ] && [ $status = 0 ] && fail "$w finished before SIG$sig; make the test model bigger"
    case $sig in INT) want=130 ;; TERM) want=143 ;; esac
    [ $status = $want ] || fail "$w did not die of SIG$sig (status $status)"
    only_files "$OUT"
    echo "ok: $w: SIG$sig during the write leaves nothing behind"
}

for w in $WRITERS; do
    # 1. temp file in the destination directory, fsync, rename; never opened in place
    rm -rf "$OUT" && mkdir -p "$OUT"
    if command -v strace >/dev/null 2>&1; then
        # LeakSanitizer cannot run under ptrace (make sanitize)
        TRACE="env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -o $TMP/trace
            -e trace=openat,open,creat,fsync,fdatasync,rename,renameat,renameat2"
        "write_$w" "$S260/stories260K.bin" "$OUT/x.out" || fail "$w under strace failed"
        TRACE=
        temp=$(awk -v prefix="$OUT/.x.out." '/O_CREAT/ && /= [0-9]+$/ && index($0, "\"" prefix) {
            s = substr($0, index($0, "\"" prefix) + 1); print substr(s, 1, index(s, "\"") - 1), $NF; exit }' "$TMP/trace")
        [ -n "$temp" ] || fail "$w: no temporary created in $OUT: $(grep -F "$OUT" "$TMP/trace" | head -n 5)"
        fd=${temp##* }
        temp=${temp% *}
        # (reading the finished file back, as quantize does for its summary, is fine)
        grep -F "$OUT/x.out\"" "$TMP/trace" | grep 'open' | grep -qE 'O_WRONLY|O_RDWR|O_CREAT|O_TRUNC' &&
            fail "$w opened the final path $OUT/x.out for writing"
        # the last fsync of the temporary's descriptor comes before the rename, then the directory is synced
        awk -v fd="$fd" -v temp="$temp" -v final="$OUT/x.out" -v dir="$OUT" '
            $0 ~ "fsync\\(" fd "\\) += 0" && !renamed { synced = 1 }
            index($0, "rename(\"" temp "\", \"" final "\") = 0") { if (!synced) exit 2; renamed = 1 }
            renamed && index($0, "\"" dir "\", O_RDONLY|O_DIRECTORY") { dirfd = 1 }
            END { exit renamed && dirfd ? 0 : 1 }' "$TMP/trace" ||
            fail "$w: expected fsync($fd) of $temp, rename to x.out, then a directory sync: $(grep -E 'fsync|rename|DIRECTORY' "$TMP/trace" | head)"
        only_files "$OUT" x.out
        echo "ok: $w: writes $temp, fsyncs it, renames it to x.out and syncs the directory"
    else
        echo "skip: strace is not installed; the write sequence is not traced"
    fi

    # 2. a file-size limit makes the write fail half way: exit 1, nothing new, an old output intact
    rm -rf "$OUT" && mkdir -p "$OUT"
    expect_fail 1 "x.out" limited_write "$w"
    only_files "$OUT"
    echo "previous output" >"$OUT/x.out"
    expect_fail 1 "x.out" limited_write "$w"
    [ "$(cat "$OUT/x.out")" = "previous output" ] || fail "$w: a failed write changed the existing output"
    only_files "$OUT" x.out
    echo "ok: $w: the existing output survives a failed write"

    # 3. no such directory, or a directory as the output
    expect_fail 1 "$TMP/nowhere/x.out" "write_$w" "$S260/stories260K.bin" "$TMP/nowhere/x.out"
    expect_fail 1 "is a directory" "write_$w" "$S260/stories260K.bin" "$OUT"

    # 4. signals
    interrupt INT "$w"
    interrupt TERM "$w"
done

# 5. never over an input, for every writer: the checkpoint, a link to it, the tokenizer next to it,
#    and the weights, config and tokenizer files of a Hugging Face directory
m=$TMP/model
mkdir -p "$m"
cp "$S260/stories260K.bin" "$S260/tok512.bin" "$m/"
cp "$m/stories260K.bin" "$TMP/copy.bin"
ln -s "$m/stories260K.bin" "$TMP/link.bin"
hf=$TMP/hf
mkdir -p "$hf"
cp "$M21/config.json" "$M21/tokenizer.model" "$M21/tokenizer_config.json" "$hf/"
ln -s "$M21/model.safetensors" "$hf/model.safetensors"
for w in $WRITERS; do
    for target in "$m/stories260K.bin" "$m/tok512.bin" "$m/../model/stories260K.bin" "$TMP/link.bin"; do
        sum=$(cksum <"$target")
        expect_fail 1 "refusing to overwrite an input file" "write_$w" "$m/stories260K.bin" "$target"
        [ "$(cksum <"$target")" = "$sum" ] || fail "$w modified its input $target"
    done
    expect_fail 1 "refusing to overwrite an input file" "write_$w" "$TMP/copy.bin" "$m/tok512.bin" --tokenizer "$m/tok512.bin"
    [ -L "$TMP/link.bin" ] || fail "$w replaced the symbolic link to the input"
    for name in model.safetensors config.json tokenizer.model tokenizer_config.json; do
        sum=$(cksum <"$hf/$name")
        expect_fail 1 "refusing to overwrite an input file" "write_$w" "$hf" "$hf/$name"
        [ "$(cksum <"$hf/$name")" = "$sum" ] || fail "$w modified $name in its input directory"
    done
    only_files "$hf" config.json model.safetensors tokenizer.model tokenizer_config.json
    [ -L "$hf/model.safetensors" ] || fail "$w replaced the link to the weights"
    # writing a new file into the model directory is fine
    "write_$w" "$S260/stories260K.bin" "$m/new.gguf"
    [ -s "$m/new.gguf" ] || fail "$w into the model directory wrote nothing"
    only_files "$m" stories260K.bin tok512.bin new.gguf
    rm "$m/new.gguf"
    echo "ok: $w: inputs are never written over; new files next to them are fine"
done
