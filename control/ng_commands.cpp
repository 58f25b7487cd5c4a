// ng command execution. Control thread only.
#include "ng_commands.hpp"

#include "log.hpp"

namespace latch {

void NgCommands::dispatch(NgRequest& request, const NgServer::Respond& respond) {
    auto command = request.dict.find("command");
    if (command == request.dict.end()) return respond(ng_error("missing key 'command'"));
    if (!command->is_string()) return respond(ng_error("'command' is not a string"));
    const auto& name = command->get_ref<const std::string&>();
    if (name == "ping") return respond({{"result", "pong"}});
    respond(ng_error("Unrecognized command"));
}

void NgCommands::on_worker_reply(WorkerReply& reply) {
    if (reply.status == ReplyStatus::timed_out) {
        log(LogLevel::info, "session {} ended after {} ms without media", reply.session,
            relay_.config().idle_timeout_ms);
    }
}

}  // namespace latch
