# bash completion for coop: verbs, their flags, and container names from `coop ps -a`.
# source contrib/coop.bash (or install it as /usr/share/bash-completion/completions/coop)
_coop_containers() { coop ps -a -o json 2>/dev/null | jq -r '.[].name' 2>/dev/null; }

_coop() {
	local cur=${COMP_WORDS[COMP_CWORD]} verb=${COMP_WORDS[1]}
	local verbs="run ps status inspect stop rm logs exec metrics events workload token version daemon image vpc net port dns runtime"
	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W "$verbs --endpoint --access-token --secret-key --ca --help" -- "$cur"))
		return
	fi
	local flags=""
	case $verb in
	run) flags="--image --name --vpc --volume -v --memory --cpu --disk --user -u --env -e --dir -w -p -d --detach --rm --replace --help" ;;
	ps) flags="-a --all -q --quiet -o --output --help" ;;
	stop) flags="--timeout --help" ;;
	rm) flags="-f --force --help" ;;
	logs) flags="-f --follow --tail --since --help" ;;
	exec) flags="-e --env -u --user -w --workdir --help" ;;
	events) flags="-f --follow --since --filter -o --help" ;;
	status | metrics) flags="-o --help" ;;
	daemon) flags="--state --run --image-store --listen --tls-cert --tls-key --debug --help" ;;
	token) flags="create ls rm --role --name -o --help" ;;
	workload) flags="ls rm -o --help" ;;
	esac
	case $verb in
	run) if [[ $cur != -* ]]; then COMPREPLY=($(compgen -f -X '!*.bun' -- "$cur") $(compgen -d -- "$cur")); fi ;;
	status | inspect | stop | rm | logs | exec | metrics)
		[[ $cur != -* ]] && COMPREPLY=($(compgen -W "$(_coop_containers)" -- "$cur")) ;;
	esac
	[[ $cur == -* || ${#COMPREPLY[@]} -eq 0 ]] && COMPREPLY+=($(compgen -W "$flags" -- "$cur"))
}
complete -F _coop coop
