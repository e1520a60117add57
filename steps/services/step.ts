// The binding of steps/services/services.sh: it takes no option.
export const script = "services.sh";
export const args = () => ({});
