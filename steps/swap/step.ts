// The binding of steps/swap/swap.sh: it takes no option.
export const script = "swap.sh";
export const args = () => ({});
