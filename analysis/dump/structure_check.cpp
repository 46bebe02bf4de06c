#include "analysis/dump/structure_check.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "analysis/dump/hdf5_support.h"

namespace attnlab::dump {
namespace {

// Datasets and attributes up to this size are read whole by the walk (statistics, steps, probe
// arrays, strings); larger ones are the maps, which the reader reads one chunk at a time.
constexpr double kLargestRead = 16.0 * (1 << 20);

// The type a reader asks for: variable-length strings as C strings in the file's character set
// (what the dump reader does: converting them reads HDF5's global heap, where damage shows),
// everything else in its native form.
hid_t memory_type_for(hid_t file_type) {
  if (H5Tget_class(file_type) == H5T_STRING && H5Tis_variable_str(file_type) > 0) {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5Tget_cset(file_type));
    return type;
  }
  return H5Tget_native_type(file_type, H5T_DIR_DEFAULT);
}

// Reads `count` elements of `file_type` with `read` (an attribute's or a dataset's), then frees
// what variable-length data HDF5 allocated. Returns false on an error HDF5 reported.
template <typename Read>
bool read_whole(hid_t file_type, hid_t space, Read&& read) {
  const hssize_t count = H5Sget_simple_extent_npoints(space);
  const hid_t type = memory_type_for(file_type);
  const std::size_t size = type < 0 ? 0 : H5Tget_size(type);
  bool ok = count >= 0 && size > 0;
  // Small objects only: what the reader reads whole. Maps, read a chunk at a time, are left out.
  if (ok && static_cast<double>(count) * size <= kLargestRead) {
    std::vector<unsigned char> buffer(static_cast<std::size_t>(count) * size + 1);
    ok = read(type, buffer.data()) >= 0;
    if (ok && (H5Tdetect_class(type, H5T_VLEN) > 0 || H5Tis_variable_str(type) > 0)) {
      H5Dvlen_reclaim(type, space, H5P_DEFAULT, buffer.data());
    }
  }
  if (type >= 0) H5Tclose(type);
  return ok;
}

// Reads every attribute of `object` whole. Errors HDF5 reports are noted and the walk goes on, so
// that what comes after a damaged part is still visited.
herr_t read_attribute(hid_t object, const char* name, const H5A_info_t*, void* errors) {
  const hid_t attribute = H5Aopen(object, name, H5P_DEFAULT);
  const hid_t type = attribute < 0 ? -1 : H5Aget_type(attribute);
  const hid_t space = attribute < 0 ? -1 : H5Aget_space(attribute);
  const bool ok = type >= 0 && space >= 0 && read_whole(type, space, [&](hid_t memory, void* to) {
                    return H5Aread(attribute, memory, to);
                  });
  if (!ok) ++*static_cast<int*>(errors);
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  if (attribute >= 0) H5Aclose(attribute);
  return 0;
}

// Opens each object, reads its header (type, space, creation properties), its attributes, and a
// dataset's values when they are small and not maps (which the reader reads a chunk at a time).
herr_t visit_object(hid_t root, const char* name, const H5O_info_t* info, void* errors) {
  const hid_t object = H5Oopen(root, name, H5P_DEFAULT);
  if (object < 0) {
    ++*static_cast<int*>(errors);
    return 0;
  }
  if (info->type == H5O_TYPE_DATASET) {
    const hid_t type = H5Dget_type(object);
    const hid_t space = H5Dget_space(object);
    const hid_t properties = H5Dget_create_plist(object);
    const std::string path = name;
    const bool maps = path.size() >= 4 && path.compare(path.size() - 4, 4, "maps") == 0;
    const bool ok = type >= 0 && space >= 0 && properties >= 0 &&
                    (maps || read_whole(type, space, [&](hid_t memory, void* to) {
                       return H5Dread(object, memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, to);
                     }));
    if (!ok) ++*static_cast<int*>(errors);
    if (properties >= 0) H5Pclose(properties);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
  }
  hsize_t index = 0;
  if (H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_NATIVE, &index, read_attribute, errors) < 0) {
    ++*static_cast<int*>(errors);
  }
  H5Oclose(object);
  return 0;
}

// The child's exit codes: the walk went through, or HDF5 reported an error on the way. Anything
// else (a signal, or a sanitizer's exit code in an instrumented build) means it crashed.
constexpr int kWalked = 0;
constexpr int kReported = 3;

int walk(const std::filesystem::path& path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) return kReported;
  int errors = 0;
  if (H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_NATIVE, visit_object, &errors, H5O_INFO_BASIC) < 0) {
    ++errors;
  }
  H5Fclose(file);
  return errors > 0 ? kReported : kWalked;
}

std::chrono::milliseconds time_limit() {
  if (const char* text = std::getenv("ATTNLAB_HDF5_CHECK_SECONDS")) {
    const double seconds = std::atof(text);
    if (seconds > 0) return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
  }
  return std::chrono::seconds(30);
}

pid_t wait_for(pid_t child, int& status, int options) {
  pid_t done = -1;
  while ((done = ::waitpid(child, &status, options)) < 0 && errno == EINTR) {
  }
  return done;
}

}  // namespace

void check_hdf5_structure(const std::filesystem::path& path) {
  const auto limit = time_limit();
  std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child < 0) throw DumpError(path.string() + ": fork: " + std::strerror(errno));
  if (child == 0) {
    // Never outlive the caller, never run past the limit, and hold none of its files or locks.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::alarm(static_cast<unsigned>(limit.count() / 1000 + 1));
    ::closefrom(3);
    ::_exit(walk(path));
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  pid_t done = 0;
  auto pause = std::chrono::microseconds(200);
  while ((done = wait_for(child, status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(20));
  }
  if (done < 0) throw DumpError(path.string() + ": waitpid: " + std::strerror(errno));
  const auto hung = [&] {
    return DumpError(path.string() + ": the file is damaged: the HDF5 library did not finish "
                     "reading its structure within " + std::to_string(limit.count()) + " ms");
  };
  if (done == 0) {
    ::kill(child, SIGKILL);
    wait_for(child, status, 0);
    throw hung();
  }
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    if (signal == SIGALRM) throw hung();
    if (signal != SIGSEGV && signal != SIGBUS && signal != SIGABRT && signal != SIGFPE &&
        signal != SIGILL) {
      // Ctrl-C, a kill, the OOM killer: says nothing about the file.
      throw std::runtime_error(path.string() + ": checking the file was interrupted (" +
                               strsignal(signal) + ")");
    }
    throw DumpError(path.string() + ": the file is damaged: the HDF5 library crashed reading "
                    "its structure (" + strsignal(signal) + ")");
  }
  const int code = WEXITSTATUS(status);
  if (code != kWalked && code != kReported) {
    throw DumpError(path.string() + ": the file is damaged: the HDF5 library failed reading its "
                    "structure (exit code " + std::to_string(code) + ")");
  }
}

}  // namespace attnlab::dump
