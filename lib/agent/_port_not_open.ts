// Why a wait for the guest agent goes on while the guest has not opened the agent's port: the
// guest agent client's timeouts and vm.ready's "agent" stage say it alike.

/** The reason, for a timeout's message. */
export const AGENT_PORT_NOT_OPEN =
  "the guest has not opened the agent's port (org.qemu.guest_agent.0): it is still booting, or qemu-guest-agent is not installed or not running in it";
