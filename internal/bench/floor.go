package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/sandbond/sandbond/drivers"
)

// floorPrograms are minimal raw JSON-line ping-pong loops, one per
// language, on descriptors 3 (in) and 4 (out): the floor that sandbond is
// measured against. Each answers {"op","id","args"} with
// {"op":"return","id","value"} where value is args[0]+args[1] ("add"),
// the length of args[0] ("len") or args[0] ("echo").
var floorPrograms = map[string][]string{
	"python": {"-u", "-c", `import os,json
r=open(3,'rb');w=4
for line in r:
    m=json.loads(line);a=m["args"];op=m["op"]
    v=a[0]+a[1] if op=="add" else (len(a[0]) if op=="len" else a[0])
    os.write(w,(json.dumps({"op":"return","id":m["id"],"value":v})+"\n").encode())
`},
	"php": {"-r", `$r=fopen('php://fd/3','r');$w=fopen('php://fd/4','w');
while(($l=fgets($r))!==false){$m=json_decode($l,true);$a=$m['args'];$op=$m['op'];
$v=$op=='add'?$a[0]+$a[1]:($op=='len'?strlen($a[0]):$a[0]);
fwrite($w,json_encode(['op'=>'return','id'=>$m['id'],'value'=>$v])."\n");fflush($w);}`},
	"perl": {"-e", `use JSON::XS;open(my $r,'<&=',3);open(my $w,'>&=',4);$w->autoflush(1);my $j=JSON::XS->new->utf8;
while(my $l=<$r>){my $m=$j->decode($l);my $a=$m->{args};my $op=$m->{op};
my $v=$op eq 'add'?$a->[0]+$a->[1]:($op eq 'len'?length($a->[0]):$a->[0]);
print $w $j->encode({op=>'return',id=>$m->{id},value=>$v}),"\n";}`},
	"node": {"-e", `const fs=require('fs');let buf=Buffer.alloc(0);const c=Buffer.alloc(65536);
for(;;){const n=fs.readSync(3,c,0,65536,null);if(n===0)break;buf=Buffer.concat([buf,c.subarray(0,n)]);let i;
while((i=buf.indexOf(10))>=0){const m=JSON.parse(buf.subarray(0,i).toString());buf=buf.subarray(i+1);const a=m.args;
const v=m.op==='add'?a[0]+a[1]:m.op==='len'?a[0].length:a[0];
fs.writeSync(4,JSON.stringify({op:'return',id:m.id,value:v})+'\n');}}`},
}

// floorProc is a raw ping-pong interpreter.
type floorProc struct {
	cmd *exec.Cmd
	in  *os.File
	out *bufio.Reader
	rd  *os.File
	id  int
}

func startFloor(ctx context.Context, lang string) (*floorProc, error) {
	args, ok := floorPrograms[lang]
	if !ok {
		return nil, fmt.Errorf("no floor program for %s", lang)
	}
	drv, err := drivers.Lookup(lang)
	if err != nil {
		return nil, err
	}
	interp, err := drv.ResolveInterpreter(ctx, drv.Command)
	if err != nil {
		return nil, err
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(interp, args...)
	cmd.ExtraFiles = []*os.File{inR, outW}
	cmd.Stderr = os.Stderr
	err = cmd.Start()
	_ = inR.Close()
	_ = outW.Close()
	if err != nil {
		_ = inW.Close()
		_ = outR.Close()
		return nil, err
	}
	return &floorProc{cmd: cmd, in: inW, out: bufio.NewReaderSize(outR, 64<<10), rd: outR}, nil
}

// call sends one request and decodes the reply, as a minimal Go client would.
func (f *floorProc) call(op string, args ...any) (any, error) {
	f.id++
	req, err := json.Marshal(map[string]any{"op": op, "id": f.id, "args": args})
	if err != nil {
		return nil, err
	}
	if _, err := f.in.Write(append(req, '\n')); err != nil {
		return nil, err
	}
	line, err := f.out.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	var reply struct {
		ID    int `json:"id"`
		Value any `json:"value"`
	}
	if err := json.Unmarshal(line, &reply); err != nil {
		return nil, err
	}
	if reply.ID != f.id {
		return nil, fmt.Errorf("floor: reply %d to request %d", reply.ID, f.id)
	}
	return reply.Value, nil
}

func (f *floorProc) close() error {
	_ = f.in.Close()
	_, _ = io.Copy(io.Discard, f.rd)
	_ = f.rd.Close()
	return f.cmd.Wait()
}
