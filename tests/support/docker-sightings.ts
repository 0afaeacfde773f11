import { docker } from '../../src/backends/docker/cli.js';
import { ROLE_LABEL, SLUG_LABEL } from '../../src/backends/docker/names.js';

/**
 * Where a running docker bottle shows `secret`, for tests that prove a
 * token reaches the bundle's memory and nothing else: `docker inspect` of
 * each of its containers (env, args, labels, mounts), the initial
 * environment of every process in each container, and any file the agent
 * container holds outside the image's own program folders. Empty: nowhere.
 */
export async function secretSightings(slug: string, secret: string): Promise<string[]> {
  const ids = (await docker(['ps', '--quiet', '--filter', `label=${SLUG_LABEL}=${slug}`])).split('\n').filter(Boolean);
  if (ids.length < 2) throw new Error(`expected the bottle's bundle and agent containers running, found ${ids.length}`);
  const found: string[] = [];
  for (const id of ids) {
    const role = await docker(['inspect', '--format', `{{index .Config.Labels "${ROLE_LABEL}"}}`, id]);
    if ((await docker(['inspect', id])).includes(secret)) found.push(`${role}: docker inspect`);
    // As root and as the agent: with every capability dropped, root cannot read another user's environ.
    for (const user of ['0', '1000']) {
      const environs = await docker(['exec', '--user', user, id, 'sh', '-c', 'cat /proc/[0-9]*/environ 2>/dev/null | tr "\\0" "\\n"']);
      if (environs.includes(secret) && !found.includes(`${role}: a process environment`)) found.push(`${role}: a process environment`);
    }
    if (role === 'agent') {
      for (const user of ['0', '1000']) {
        // The needle on stdin: it must not itself land on an argv or environment in the container.
        const files = await docker(['exec', '--interactive', '--user', user, id, 'sh', '-c', 'grep -rlsF -f /dev/stdin /home /root /etc /tmp /run /var /workspace; true'], { input: `${secret}\n` });
        for (const file of files.split('\n').filter(Boolean)) if (!found.includes(`agent: ${file}`)) found.push(`agent: ${file}`);
      }
    }
  }
  return found;
}
