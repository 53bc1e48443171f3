# A bash target using builtins only: a line per iteration to $1 (fd 3, at its
# offset); SIGUSR1 ends it with PASS.
go=0
trap 'go=1' USR1
exec 3>"$1"
echo "READY $$"
i=0
while [ $go = 0 ]; do
  echo $i >&3
  i=$((i + 1))
  for ((j = 0; j < 3000; j++)); do :; done
done
echo PASS
