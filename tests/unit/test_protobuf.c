/* Unit tests for the generated protocol code: field numbers and types on the wire for agent, containerd shim and
 * event messages, checked against hand-built bytes; service and method names; budgeted unpacking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "error.h"
#include "rpc/pb.h"

#include "agent.pb-c.h"
#include "containerd_api_events_task.pb-c.h"
#include "containerd_runtime_v2_task_shim.pb-c.h"
#include "health.pb-c.h"

/* Pack msg, compare with want, unpack again and hand back the copy. */
static ProtobufCMessage *wire_check(const ProtobufCMessage *msg, const uint8_t *want, size_t want_len)
{
        _cleanup_buf_ struct hull_buf b = HULL_BUF_INIT;
        ProtobufCMessage *back = NULL;

        assert_int_equal(hull_pb_pack(msg, &b, NULL), 0);
        if (b.len != want_len || memcmp(b.data, want, want_len) != 0) {
                for (size_t i = 0; i < b.len; i++)
                        print_message("%02x ", (uint8_t)b.data[i]);
                print_message("\n");
                fail_msg("%s: wire bytes differ from the hand-built encoding", msg->descriptor->name);
        }
        assert_int_equal(hull_pb_unpack(msg->descriptor, (const uint8_t *)b.data, b.len, &back, NULL), 0);
        return back;
}

static void test_protobuf_create_container_request_field_numbers(void **state)
{
        Grpc__CreateContainerRequest req = GRPC__CREATE_CONTAINER_REQUEST__INIT;
        Grpc__Spec spec = GRPC__SPEC__INIT;
        /* container_id=1 "c1", exec_id=2 "e1", OCI=6 {Version=1 "1.0.2", Hostname=4 "h"}, sandbox_pidns=7 true,
         * stdin_port=9 5 */
        static const uint8_t want[] = { 0x0a, 2,   'c', '1', 0x12, 2,    'e', '1', 0x32, 10, 0x0a, 5,
                                        '1',  '.', '0', '.', '2',  0x22, 1,   'h', 0x38, 1,  0x48, 5 };
        _cleanup_pb_ ProtobufCMessage *back = NULL;
        Grpc__CreateContainerRequest *r;

        req.container_id = "c1";
        req.exec_id = "e1";
        spec.version = "1.0.2";
        spec.hostname = "h";
        req.oci = &spec;
        req.sandbox_pidns = 1;
        req.stdin_port = 5;
        back = wire_check(&req.base, want, sizeof(want));
        r = (Grpc__CreateContainerRequest *)back;
        assert_string_equal(r->container_id, "c1");
        assert_string_equal(r->exec_id, "e1");
        assert_string_equal(r->oci->version, "1.0.2");
        assert_string_equal(r->oci->hostname, "h");
        assert_true(r->sandbox_pidns);
}

static void test_protobuf_wait_process_response_negative_status(void **state)
{
        Grpc__WaitProcessResponse resp = GRPC__WAIT_PROCESS_RESPONSE__INIT;
        /* int32 -1 is a sign-extended ten-byte varint */
        static const uint8_t want[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
        _cleanup_pb_ ProtobufCMessage *back = NULL;

        resp.status = -1;
        back = wire_check(&resp.base, want, sizeof(want));
        assert_int_equal(((Grpc__WaitProcessResponse *)back)->status, -1);
}

static void test_protobuf_interface_and_routes_field_numbers(void **state)
{
        Types__IPAddress addr = TYPES__IPADDRESS__INIT, *addrs[] = { &addr };
        Types__Interface iface = TYPES__INTERFACE__INIT;
        Types__Route route = TYPES__ROUTE__INIT, *routes[] = { &route };
        Grpc__Routes rs = GRPC__ROUTES__INIT;
        /* device=1 "eth0", IPAddresses=3 {family=1 v6, address=2 "::1", mask=3 "128"}, mtu=4 1500, raw_flags=8 3 */
        static const uint8_t want_iface[] = { 0x0a, 4,   'e',  't', 'h', '0', 0x1a, 12,   0x08, 1,    0x12, 3, ':',
                                              ':',  '1', 0x1a, 3,   '1', '2', '8',  0x20, 0xdc, 0x0b, 0x40, 3 };
        /* Routes=1 {dest=1 "10.0.0.0/8", gateway=2 "10.0.0.1", device=3 "eth0", scope=5 253, family=6 v4 (absent)} */
        static const uint8_t want_routes[] = { 0x0a, 31,  0x0a, 10,   '1', '0', '.', '0', '.',  '0',  '.',
                                               '0',  '/', '8',  0x12, 8,   '1', '0', '.', '0',  '.',  '0',
                                               '.',  '1', 0x1a, 4,    'e', 't', 'h', '0', 0x28, 0xfd, 0x01 };
        _cleanup_pb_ ProtobufCMessage *b1 = NULL, *b2 = NULL;

        addr.family = TYPES__IPFAMILY__v6;
        addr.address = "::1";
        addr.mask = "128";
        iface.device = "eth0";
        iface.n_ipaddresses = 1;
        iface.ipaddresses = addrs;
        iface.mtu = 1500;
        iface.raw_flags = 3;
        b1 = wire_check(&iface.base, want_iface, sizeof(want_iface));
        assert_string_equal(((Types__Interface *)b1)->ipaddresses[0]->address, "::1");

        route.dest = "10.0.0.0/8";
        route.gateway = "10.0.0.1";
        route.device = "eth0";
        route.scope = 253;
        rs.n_routes = 1;
        rs.routes = routes;
        b2 = wire_check(&rs.base, want_routes, sizeof(want_routes));
        assert_int_equal(((Grpc__Routes *)b2)->routes[0]->scope, 253);
}

static void test_protobuf_copy_file_and_date_time_field_numbers(void **state)
{
        Grpc__CopyFileRequest cf = GRPC__COPY_FILE_REQUEST__INIT;
        Grpc__SetGuestDateTimeRequest dt = GRPC__SET_GUEST_DATE_TIME_REQUEST__INIT;
        /* path=1 "/run/x", file_size=2 10, file_mode=3 0644, dir_mode=4 0755, uid=5 1, gid=6 2, offset=7 4,
         * data=8 "abc" */
        static const uint8_t want_cf[] = { 0x0a, 6,    '/',  'r',  'u',  'n',  '/',  'x',  0x10,
                                           10,   0x18, 0xa4, 0x03, 0x20, 0xed, 0x03, 0x28, 1,
                                           0x30, 2,    0x38, 4,    0x42, 3,    'a',  'b',  'c' };
        /* Sec=1 1700000000, Usec=2 5 */
        static const uint8_t want_dt[] = { 0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06, 0x10, 5 };
        uint8_t data[] = "abc";
        _cleanup_pb_ ProtobufCMessage *b1 = NULL, *b2 = NULL;

        cf.path = "/run/x";
        cf.file_size = 10;
        cf.file_mode = 0644;
        cf.dir_mode = 0755;
        cf.uid = 1;
        cf.gid = 2;
        cf.offset = 4;
        cf.data.data = data;
        cf.data.len = 3;
        b1 = wire_check(&cf.base, want_cf, sizeof(want_cf));
        assert_memory_equal(((Grpc__CopyFileRequest *)b1)->data.data, "abc", 3);
        dt.sec = 1700000000;
        dt.usec = 5;
        b2 = wire_check(&dt.base, want_dt, sizeof(want_dt));
        assert_true(((Grpc__SetGuestDateTimeRequest *)b2)->sec == 1700000000);
}

static void test_protobuf_exec_process_with_oci_process(void **state)
{
        Grpc__ExecProcessRequest req = GRPC__EXEC_PROCESS_REQUEST__INIT;
        Grpc__Process proc = GRPC__PROCESS__INIT;
        Grpc__User user = GRPC__USER__INIT;
        char *args[] = { "sh", "-c" };
        /* container_id=1 "c", exec_id=2 "x", process=4 {Terminal=1 true, User=3 {UID=1 1000}, Args=4 "sh", "-c",
         * Cwd=6 "/"} */
        static const uint8_t want[] = { 0x0a, 1,    'c',  0x12, 1,   'x', 0x22, 18, 0x08, 1,   0x1a, 3, 0x08,
                                        0xe8, 0x07, 0x22, 2,    's', 'h', 0x22, 2,  '-',  'c', 0x32, 1, '/' };
        _cleanup_pb_ ProtobufCMessage *back = NULL;

        user.uid = 1000;
        proc.terminal = 1;
        proc.user = &user;
        proc.n_args = 2;
        proc.args = args;
        proc.cwd = "/";
        req.container_id = "c";
        req.exec_id = "x";
        req.process = &proc;
        back = wire_check(&req.base, want, sizeof(want));
        assert_string_equal(((Grpc__ExecProcessRequest *)back)->process->args[1], "-c");
}

static void test_protobuf_containerd_create_task_and_exit_event(void **state)
{
        Containerd__Task__V2__CreateTaskRequest req = CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
        Containerd__Types__Mount m = CONTAINERD__TYPES__MOUNT__INIT, *mounts[] = { &m };
        Containerd__Events__TaskExit ev = CONTAINERD__EVENTS__TASK_EXIT__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        char *opts[] = { "ro" };
        /* id=1 "t", bundle=2 "/b", rootfs=3 {type=1 "overlay", source=2 "s", target=3 "", options=4 "ro"},
         * terminal=4 true */
        static const uint8_t want_req[] = { 0x0a, 1,   't', 0x12, 2,    '/', 'b', 0x1a, 16, 0x0a, 7,   'o',  'v', 'e',
                                            'r',  'l', 'a', 'y',  0x12, 1,   's', 0x22, 2,  'r',  'o', 0x20, 1 };
        /* container_id=1 "c", id=2 "p", pid=3 42, exit_status=4 137, exited_at=5 {seconds=1 3} */
        static const uint8_t want_ev[] = { 0x0a, 1, 'c', 0x12, 1, 'p', 0x18, 42, 0x20, 0x89, 0x01, 0x2a, 2, 0x08, 3 };
        _cleanup_pb_ ProtobufCMessage *b1 = NULL, *b2 = NULL;

        m.type = "overlay";
        m.source = "s";
        m.n_options = 1;
        m.options = opts;
        req.id = "t";
        req.bundle = "/b";
        req.n_rootfs = 1;
        req.rootfs = mounts;
        req.terminal = 1;
        b1 = wire_check(&req.base, want_req, sizeof(want_req));
        assert_string_equal(((Containerd__Task__V2__CreateTaskRequest *)b1)->rootfs[0]->options[0], "ro");

        ts.seconds = 3;
        ev.container_id = "c";
        ev.id = "p";
        ev.pid = 42;
        ev.exit_status = 137;
        ev.exited_at = &ts;
        b2 = wire_check(&ev.base, want_ev, sizeof(want_ev));
        assert_int_equal(((Containerd__Events__TaskExit *)b2)->exited_at->seconds, 3);
}

static const ProtobufCMethodDescriptor *method(const ProtobufCServiceDescriptor *svc, const char *name)
{
        for (unsigned i = 0; i < svc->n_methods; i++)
                if (streq(svc->methods[i].name, name))
                        return &svc->methods[i];
        return NULL;
}

static void test_protobuf_agent_service_has_every_call_hull_makes(void **state)
{
        static const char *const calls[][3] = {
                { "CreateContainer", "grpc.CreateContainerRequest", "google.protobuf.Empty" },
                { "StartContainer", "grpc.StartContainerRequest", "google.protobuf.Empty" },
                { "RemoveContainer", "grpc.RemoveContainerRequest", "google.protobuf.Empty" },
                { "ExecProcess", "grpc.ExecProcessRequest", "google.protobuf.Empty" },
                { "SignalProcess", "grpc.SignalProcessRequest", "google.protobuf.Empty" },
                { "WaitProcess", "grpc.WaitProcessRequest", "grpc.WaitProcessResponse" },
                { "WriteStdin", "grpc.WriteStreamRequest", "grpc.WriteStreamResponse" },
                { "ReadStdout", "grpc.ReadStreamRequest", "grpc.ReadStreamResponse" },
                { "ReadStderr", "grpc.ReadStreamRequest", "grpc.ReadStreamResponse" },
                { "CloseStdin", "grpc.CloseStdinRequest", "google.protobuf.Empty" },
                { "TtyWinResize", "grpc.TtyWinResizeRequest", "google.protobuf.Empty" },
                { "UpdateContainer", "grpc.UpdateContainerRequest", "google.protobuf.Empty" },
                { "StatsContainer", "grpc.StatsContainerRequest", "grpc.StatsContainerResponse" },
                { "PauseContainer", "grpc.PauseContainerRequest", "google.protobuf.Empty" },
                { "ResumeContainer", "grpc.ResumeContainerRequest", "google.protobuf.Empty" },
                { "UpdateInterface", "grpc.UpdateInterfaceRequest", "types.Interface" },
                { "UpdateRoutes", "grpc.UpdateRoutesRequest", "grpc.Routes" },
                { "AddARPNeighbors", "grpc.AddARPNeighborsRequest", "google.protobuf.Empty" },
                { "ListInterfaces", "grpc.ListInterfacesRequest", "grpc.Interfaces" },
                { "ListRoutes", "grpc.ListRoutesRequest", "grpc.Routes" },
                { "CreateSandbox", "grpc.CreateSandboxRequest", "google.protobuf.Empty" },
                { "DestroySandbox", "grpc.DestroySandboxRequest", "google.protobuf.Empty" },
                { "GetGuestDetails", "grpc.GuestDetailsRequest", "grpc.GuestDetailsResponse" },
                { "OnlineCPUMem", "grpc.OnlineCPUMemRequest", "google.protobuf.Empty" },
                { "CopyFile", "grpc.CopyFileRequest", "google.protobuf.Empty" },
                { "GetOOMEvent", "grpc.GetOOMEventRequest", "grpc.OOMEvent" },
                { "SetGuestDateTime", "grpc.SetGuestDateTimeRequest", "google.protobuf.Empty" },
        };
        const ProtobufCMethodDescriptor *m;

        assert_string_equal(grpc__agent_service__descriptor.name, "grpc.AgentService");
        for (size_t i = 0; i < ARRAY_SIZE(calls); i++) {
                m = method(&grpc__agent_service__descriptor, calls[i][0]);
                if (!m)
                        fail_msg("grpc.AgentService has no %s", calls[i][0]);
                assert_string_equal(m->input->name, calls[i][1]);
                assert_string_equal(m->output->name, calls[i][2]);
        }
        assert_string_equal(grpc__health__descriptor.name, "grpc.Health");
        m = method(&grpc__health__descriptor, "Check");
        assert_non_null(m);
        assert_string_equal(m->output->name, "grpc.HealthCheckResponse");
        m = method(&grpc__health__descriptor, "Version");
        assert_non_null(m);
        assert_string_equal(m->output->name, "grpc.VersionCheckResponse");
        assert_string_equal(containerd__task__v2__task__descriptor.name, "containerd.task.v2.Task");
        assert_non_null(method(&containerd__task__v2__task__descriptor, "Create"));
        assert_non_null(method(&containerd__task__v2__task__descriptor, "Wait"));
}

static void test_protobuf_unpack_rejects_malformed_and_bounds_memory(void **state)
{
        _cleanup_buf_ struct hull_buf b = HULL_BUF_INIT;
        _cleanup_error_ struct hull_error *e = NULL;
        ProtobufCMessage *m = NULL;

        assert_int_equal(
                hull_pb_unpack(&grpc__create_container_request__descriptor, (const uint8_t *)"\x0a\x09", 2, &m, &e),
                -EBADMSG);
        assert_non_null(strstr(hull_error_message(e), "malformed"));
        /* A million empty routes: 2 bytes each on the wire, far more in memory. */
        for (int i = 0; i < 1000000; i++)
                assert_int_equal(hull_buf_append(&b, "\x0a\x00", 2), 0);
        assert_int_equal(hull_pb_unpack(&grpc__routes__descriptor, (const uint8_t *)b.data, b.len, &m, &e), -EBADMSG);
        assert_non_null(strstr(hull_error_message(e), "too much memory"));
        /* A thousand is fine. */
        assert_int_equal(hull_pb_unpack(&grpc__routes__descriptor, (const uint8_t *)b.data, 2000, &m, NULL), 0);
        assert_int_equal(((Grpc__Routes *)m)->n_routes, 1000);
        protobuf_c_message_free_unpacked(m, NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_protobuf_create_container_request_field_numbers),
                cmocka_unit_test(test_protobuf_wait_process_response_negative_status),
                cmocka_unit_test(test_protobuf_interface_and_routes_field_numbers),
                cmocka_unit_test(test_protobuf_copy_file_and_date_time_field_numbers),
                cmocka_unit_test(test_protobuf_exec_process_with_oci_process),
                cmocka_unit_test(test_protobuf_containerd_create_task_and_exit_event),
                cmocka_unit_test(test_protobuf_agent_service_has_every_call_hull_makes),
                cmocka_unit_test(test_protobuf_unpack_rejects_malformed_and_bounds_memory),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
