#!/usr/bin/env bash
# bench/first-hour.sh runs the README's first-hour block (between
# <!-- first-hour --> and <!-- /first-hour -->) exactly as written, in a fresh
# clone of this checkout, as a new user would: HOME is a new, empty folder (so
# Go's module and build caches, npm's cache and ~/.local/bin start empty) and
# ../shared next to the clone links to this checkout's ../shared (the CI
# layout the block's data links expect). Every command is timed, and every
# line on stderr is stamped with the seconds since the start, so that the
# first embed's estimates can be set against its true time.
#
# Output: the summary on stdout and in bench/results/first-hour.txt; the
# stamped log in bench/out/first-hour.log. Run it on a quiet machine: it
# measures. About 25 minutes on 2 cores.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
[ -d "$repo/../shared/data" ] || { echo "first-hour: $repo/../shared/data is missing (the block links its data from there)" >&2; exit 1; }
work=$(mktemp -d /tmp/ser-first-hour.XXXXXX)
trap 'echo "first-hour: the clone is left in $work" >&2' EXIT
git clone -q "$repo" "$work/ser"
ln -s "$(cd "$repo/../shared" && pwd)" "$work/shared"
mkdir "$work/home"
awk '/^<!-- first-hour -->$/{on=1; next} /^<!-- \/first-hour -->$/{on=0} on' "$repo/README.md" | sed '1d;$d' > "$work/block.sh"
[ -s "$work/block.sh" ] || { echo "first-hour: no first-hour block in README.md" >&2; exit 1; }
mkdir -p "$repo/bench/out" "$repo/bench/results"
log="$repo/bench/out/first-hour.log"

# stamp prefixes each line with the seconds since the start
stamp() { perl -MTime::HiRes=time -e '$|=1; $t0=time; while (<STDIN>) { printf "%8.1f %s", time-$t0, $_ }'; }

cd "$work/ser"
set +e
env HOME="$work/home" PS4='+ ' bash -ex "$work/block.sh" 2>&1 | stamp > "$log"
rc=${PIPESTATUS[0]}
set -e

# the summary: each command of the block (a line "+ cmd" of the trace) and
# how long it took (until the next one began, or the end), then the first
# embed's estimates against its true time
perl -e '
my @cmd; my $end = 0; my @lines;
while (<>) {
	my ($t, $l) = /^\s*([\d.]+) (.*)$/ or next;
	push @lines, [$t, $l]; $end = $t;
	push @cmd, [$t, $1] if $l =~ /^\+ (?!\+)(.*)$/;
}
printf "%-100s %8s\n", "command (as the README has it)", "seconds";
for my $i (0..$#cmd) {
	my $next = $i < $#cmd ? $cmd[$i+1][0] : $end;
	printf "%-100s %8.1f\n", substr($cmd[$i][1], 0, 100), $next - $cmd[$i][0];
}
printf "%-100s %8.1f\n", "all", $end;
# the HH-RLHF embed: its estimates, against its true time
for my $i (0..$#cmd) {
	next unless $cmd[$i][1] =~ /^ser embed --data datasets\/hh-rlhf/;
	my ($t0, $t1) = ($cmd[$i][0], $i < $#cmd ? $cmd[$i+1][0] : $end);
	my $true = $t1 - $t0;
	printf "\nser embed --data datasets/hh-rlhf took %.0f s; what it said, and the total each estimate implies:\n", $true;
	my $secs = sub { my $s = shift; my $v = 0; $v += $1*3600 if $s =~ /(\d+)h/; $v += $1*60 if $s =~ /(\d+)m/; $v += $1 if $s =~ /(\d+)s/; $v };
	for my $x (@lines) {
		my ($t, $l) = @$x;
		next if $t < $t0 || $t > $t1 || $l =~ /^\+/;
		my $say = "";
		if ($l =~ /ETA (\S+)/ && $1 ne "measuring") {
			my $tot = $t - $t0 + $secs->($1);
			my ($d, $n) = $l =~ /(\d+)\/(\d+) texts/;
			$say = sprintf("  [%4.1f%% of the time, %4.1f%% of the texts: total %.0f s, %.2fx the truth]", 100*($t-$t0)/$true, $n ? 100*$d/$n : 0, $tot, $tot/$true);
		} elsif ($l =~ /estimate (\S+?)[,:; ]/) {
			my $tot = $t - $t0 + $secs->($1);
			$say = sprintf("  [said at %.1f s: total %.0f s, %.2fx the truth]", $t - $t0, $tot, $tot/$true);
		}
		printf "%7.1f %s%s\n", $t - $t0, $l, $say;
	}
}
' "$log" | tee "$repo/bench/results/first-hour.txt"
echo "exit status of the block: $rc" | tee -a "$repo/bench/results/first-hour.txt"
exit "$rc"
