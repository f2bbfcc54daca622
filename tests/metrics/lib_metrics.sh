# tests/metrics/lib_metrics.sh — helpers of the metrics suite, on top of
# tests/guest/lib.sh (sourced first). Plain bash: HTTP through /dev/tcp,
# so the tests need no curl.

# pvm_http PORT PATH [OUT] - GET http://127.0.0.1:PORT/PATH (HTTP/1.0); the
# whole response (status line, headers, body) to OUT or stdout. Returns 1
# when the connection fails; gives up after 10 s.
pvm_http() {
	local port=$1 path=$2 out=${3:-/dev/stdout}
	timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" "$2" >&3
		cat <&3' _ "$port" "$path" >"$out"
}

# pvm_metric FILE SAMPLE - the value of the sample line that starts with
# SAMPLE (name and labels, exactly as exposed), empty if none.
pvm_metric() {
	grep -F -- "$2 " "$1" | grep -v '^#' | head -n 1 | awk '{print $NF}'
}

# pvm_check_histograms FILE FAMILY - for every label set of histogram
# FAMILY in FILE: buckets never decrease in le order, the +Inf bucket equals
# _count, a _sum exists, and HELP and TYPE lines name the family once.
pvm_check_histograms() {
	local file=$1 fam=$2 out
	[ "$(grep -c "^# TYPE $fam histogram\$" "$file")" = 1 ] ||
		pvm_fail "$fam: no single '# TYPE $fam histogram' line" "$file"
	[ "$(grep -c "^# HELP $fam " "$file")" = 1 ] ||
		pvm_fail "$fam: no single HELP line" "$file"
	out=$(awk -v fam="$fam" '
		function labels_of(line,   s) {
			s = line; sub(/^[^{]*\{/, "", s); sub(/\}.*$/, "", s)
			gsub(/,?le="[^"]*"/, "", s); sub(/^,/, "", s); return s
		}
		index($0, fam "_bucket{") == 1 {
			l = labels_of($0); v = $NF + 0
			if ((l in last) && v < last[l]) { print "decreasing buckets for {" l "}"; bad = 1 }
			last[l] = v; n[l]++
			if ($0 ~ /le="\+Inf"/) inf[l] = v
		}
		index($0, fam "_count") == 1 { l = labels_of($0); cnt[l] = $NF + 0 }
		index($0, fam "_sum") == 1 { l = labels_of($0); sum[l] = 1 }
		END {
			for (l in last) {
				if (!(l in inf)) { print "no +Inf bucket for {" l "}"; bad = 1 }
				else if (!(l in cnt) || cnt[l] != inf[l]) { print "+Inf " inf[l] " != _count " cnt[l] " for {" l "}"; bad = 1 }
				if (!(l in sum)) { print "no _sum for {" l "}"; bad = 1 }
				series++
			}
			if (!series) { print "no series"; bad = 1 }
			if (!bad) print "ok " series
		}' "$file")
	case "$out" in
	ok*) pvm_say "$fam: ${out#ok } series, buckets monotonic, +Inf = _count" ;;
	*) pvm_fail "$fam: $out" "$file" ;;
	esac
}

# pvm_json_get FILE PYTHON-EXPR - evaluate EXPR on the JSON in FILE (as d).
pvm_json_get() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
