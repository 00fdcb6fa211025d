/* fork + exec: the parent writes, a fork child writes (not watched: hwbp watches one process),
   then the parent execs itself as "stage2", which writes again (re-armed by name after exec). */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int stage_value = 0;

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "stage2") == 0) {
    stage_value = 7; /* LINE-STAGE2 */
    return 3;
  }
  stage_value = 1; /* LINE-STAGE1 */
  pid_t child = fork();
  if (child == 0) {
    stage_value = 100; /* LINE-CHILD */
    _exit(0);
  }
  waitpid(child, NULL, 0);
  fflush(stdout);
  execl("/proc/self/exe", argv[0], "stage2", (char*)NULL);
  perror("execl");
  return 1;
}
